"""The L2B reader against the variations the format page says real files have."""

import gzip
import tracemalloc
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from marsaurora.classify import classify
from marsaurora.emus import OI_1304_ROW, Observation, parse_filename, read_l2b
from marsaurora.fits_open import ReadLimits
from marsaurora.errors import ERROR_CODES, ObservationError
from marsaurora.preprocess import render_heatmap
from marsaurora.synth.scene import make_scene

from helpers import rewrite, write_scene


OBSERVATION_ARRAYS = ("brightness_r", "brightness_err_r", "lat_deg", "lon_deg",
                      "lat_corners_deg", "lon_corners_deg", "sza_deg", "emission_deg",
                      "local_time_h", "mrh_alt_km", "sc_alt_km")


def read_both(path: Path, **kwargs: object) -> Observation:
    """Read with the streaming reader, check astropy reads the very same, return it."""
    streamed = read_l2b(path, **kwargs)
    assert streamed.reader == "stream", "the streaming reader gave way to astropy"
    reference = read_l2b(path, reader="astropy", **kwargs)
    for name in OBSERVATION_ARRAYS:
        np.testing.assert_array_equal(getattr(streamed, name), getattr(reference, name),
                                      err_msg=name)
        assert getattr(streamed, name).dtype == getattr(reference, name).dtype
    from_memory = read_l2b(Path(path.name), data=path.read_bytes(), **kwargs)
    for name in OBSERVATION_ARRAYS:
        np.testing.assert_array_equal(getattr(from_memory, name), getattr(streamed, name))
    for name in ("time_utc", "radiance_axes", "centre_point", "warnings", "filename"):
        assert getattr(streamed, name) == getattr(reference, name), name
        assert getattr(from_memory, name) == getattr(streamed, name), name
    return streamed


def _refusal(path: Path, **kwargs: object) -> ObservationError:
    with pytest.raises(ObservationError) as info:
        read_l2b(path, **kwargs)
    with pytest.raises(ObservationError) as by_astropy:
        read_l2b(path, reader="astropy", **kwargs)
    assert (info.value.code, info.value.message) == (by_astropy.value.code,
                                                     by_astropy.value.message)
    if path.is_file():
        with pytest.raises(ObservationError) as from_memory:
            read_l2b(Path(path.name), data=path.read_bytes(), **kwargs)
        assert (from_memory.value.code, from_memory.value.message) == (info.value.code,
                                                                       info.value.message)
    return info.value


def test_both_radiance_orientations_read_the_same(aurora_scene, tmp_path):
    (tmp_path / "b").mkdir()
    as_rows = read_both(write_scene(aurora_scene, tmp_path, radiance_axes="nint,npix"))
    as_columns = read_both(write_scene(aurora_scene, tmp_path / "b", radiance_axes="npix,nint"))
    assert as_rows.radiance_axes == "nint,npix"
    assert as_columns.radiance_axes == "npix,nint"
    expected = aurora_scene.brightness_r
    assert as_rows.shape == as_columns.shape == expected.shape
    np.testing.assert_array_equal(as_rows.brightness_r, expected)
    np.testing.assert_array_equal(as_columns.brightness_r, expected)
    np.testing.assert_array_equal(as_columns.brightness_err_r, aurora_scene.error_r)


def test_centre_point_found_at_index_4(aurora_scene, tmp_path):
    usual = read_both(write_scene(aurora_scene, tmp_path, centre_point=0))
    (tmp_path / "b").mkdir()
    moved = read_both(write_scene(aurora_scene, tmp_path / "b", centre_point=4))
    assert (usual.centre_point, moved.centre_point) == (0, 4)
    np.testing.assert_array_equal(usual.lat_deg, moved.lat_deg)
    np.testing.assert_array_equal(usual.lon_corners_deg, moved.lon_corners_deg)


def test_square_scan_orientation_decided_from_the_data(tmp_path):
    scene = make_scene(np.random.default_rng(5), "dayside", shape=(128, 128))
    for axes in ("nint,npix", "npix,nint"):
        folder = tmp_path / axes.replace(",", "_")
        folder.mkdir()
        observation = read_both(write_scene(scene, folder, radiance_axes=axes))
        np.testing.assert_array_equal(observation.brightness_r, scene.brightness_r)
        assert any("square scan" in note for note in observation.warnings)


def test_geometry_and_nans(aurora_file, aurora_scene):
    observation = read_both(aurora_file)
    centre_lat = aurora_scene.geometry.lat_deg[:, 0].astype(np.float32)
    centre_lat[:, 0] = np.nan
    np.testing.assert_array_equal(observation.lat_deg, centre_lat)
    off_disk = ~observation.on_disk
    assert off_disk.any() and observation.on_disk.any()
    assert np.isnan(observation.lon_deg[off_disk]).all()
    assert np.isnan(observation.brightness_r[:, 0]).all(), "detector pixel 0 is outside the slit"
    assert np.isfinite(observation.mrh_alt_km[:, 1:]).all()
    assert observation.lat_corners_deg.shape == (4,) + observation.shape
    assert observation.brightness_r.dtype == np.float32
    assert observation.filename is not None and observation.filename.orbit > 0
    assert len(observation.time_utc) == observation.shape[0]


def test_missing_integrations_stay_nan(tmp_path):
    rng = np.random.default_rng(11)
    scene = next(s for s in (make_scene(rng, "quiet_night") for _ in range(40))
                 if s.missing_integrations.any())
    observation = read_both(write_scene(scene, tmp_path))
    assert np.isnan(observation.brightness_r[scene.missing_integrations]).all()


def test_missing_oi_1304_row(aurora_file, tmp_path):
    def rename(hdul):
        names = hdul["EMISS"].data["NAME"]
        names[list(names).index(OI_1304_ROW)] = "O I 135.6 doublet"

    error = _refusal(rewrite(aurora_file, tmp_path / "no1304.fits", rename))
    assert error.code == "missing_emission"
    assert OI_1304_ROW in error.message


def test_padded_and_cased_row_name_is_found(aurora_file, tmp_path):
    def pad(hdul):
        names = hdul["EMISS"].data["NAME"]
        names[list(names).index(OI_1304_ROW)] = "  o i 130.4   TRIPLET"

    observation = read_both(rewrite(aurora_file, tmp_path / "padded.fits", pad))
    assert np.isfinite(observation.brightness_r).any()


def test_an_alias_of_the_triplet_is_found(aurora_file, tmp_path):
    def alias(hdul):
        names = hdul["EMISS"].data["NAME"]
        names[list(names).index(OI_1304_ROW)] = "OI 130.4 nm Triplet"

    observation = read_both(rewrite(aurora_file, tmp_path / "alias.fits", alias))
    assert np.isfinite(observation.brightness_r).any()


@pytest.mark.parametrize("other", ["O I 130.4 continuum background", "O I 130.4",
                                   "CO 4PG O I 1304", "O I 130.4 triplet fit residual"])
def test_a_row_that_only_starts_like_the_triplet_is_refused(aurora_file, tmp_path, other):
    def replace(hdul):
        names = hdul["EMISS"].data["NAME"]
        names[list(names).index(OI_1304_ROW)] = other

    error = _refusal(rewrite(aurora_file, tmp_path / "other.fits", replace))
    assert error.code == "missing_emission"
    assert repr(other) in error.message and "'O I 135.6 doublet'" in error.message


def test_two_triplet_rows_are_refused_as_ambiguous(aurora_file, tmp_path):
    def duplicate(hdul):
        names = hdul["EMISS"].data["NAME"]
        names[list(names).index("O I 135.6 doublet")] = "o i 130.4 triplet"

    error = _refusal(rewrite(aurora_file, tmp_path / "twice.fits", duplicate))
    assert error.code == "missing_emission" and "2 rows named" in error.message


def test_missing_extension(aurora_file, tmp_path):
    error = _refusal(rewrite(aurora_file, tmp_path / "nofov.fits",
                             lambda hdul: hdul.pop(hdul.index_of("FOV_GEOM"))))
    assert error.code == "missing_hdu" and "FOV_GEOM" in error.message
    assert error.message.endswith("is it a Level 2B file?")


def _drop_fov_columns(hdul, names) -> None:
    fov = hdul["FOV_GEOM"]
    kept = [c for c in fov.columns if c.name not in names]
    hdul[hdul.index_of("FOV_GEOM")] = fits.BinTableHDU.from_columns(kept, name="FOV_GEOM")


def test_optional_geometry_may_be_absent(aurora_file, tmp_path):
    path = rewrite(aurora_file, tmp_path / "lean.fits",
                   lambda hdul: _drop_fov_columns(hdul, {"LOCAL_TIME", "MRH_ALT"}))
    observation = read_both(path)
    assert np.isnan(observation.local_time_h).all() and np.isnan(observation.mrh_alt_km).all()
    assert any("MRH_ALT" in note for note in observation.warnings)
    assert np.isfinite(observation.brightness_r).any()


def test_required_geometry_must_be_present(aurora_file, tmp_path):
    path = rewrite(aurora_file, tmp_path / "nosza.fits",
                   lambda hdul: _drop_fov_columns(hdul, {"SOLAR_Z_ANGLE"}))
    error = _refusal(path)
    assert error.code == "missing_column" and "SOLAR_Z_ANGLE" in error.message


def test_brightness_shape_that_matches_no_geometry(aurora_file, tmp_path):
    def shrink(hdul):
        emiss = hdul["EMISS"]
        radiance = emiss.data["RADIANCE"][:, :-3]
        columns = [c for c in emiss.columns if c.name != "RADIANCE"]
        columns.append(fits.Column(name="RADIANCE", format=f"{radiance[0].size}E",
                                   dim=f"({radiance.shape[2]},{radiance.shape[1]})",
                                   array=radiance))
        hdul[hdul.index_of("EMISS")] = fits.BinTableHDU.from_columns(columns, name="EMISS")

    error = _refusal(rewrite(aurora_file, tmp_path / "shape.fits", shrink))
    assert error.code in ("shape_mismatch",)
    assert "FOV_GEOM" in error.message or "RAD_ERR_RAND" in error.message


def test_truncated_gzip(aurora_file, tmp_path):
    data = aurora_file.read_bytes()
    cut = tmp_path / "cut.fits.gz"
    cut.write_bytes(data[: len(data) // 3])
    assert _refusal(cut).code == "truncated"


def test_truncated_plain_fits(aurora_file, tmp_path):
    raw = gzip.decompress(aurora_file.read_bytes())
    cut = tmp_path / "cut.fits"
    cut.write_bytes(raw[: len(raw) - 100_000])
    assert _refusal(cut).code in ("truncated", "corrupt")


def test_plain_fits_cut_before_emiss_is_truncated_not_missing_an_extension(aurora_file, tmp_path):
    """Cut inside an extension the reader skips: EMISS, after the cut, is gone. The file is
    damaged, not of another kind, and the user should re-download it."""
    raw = gzip.decompress(aurora_file.read_bytes())
    emiss = raw.index(b"EXTNAME = 'EMISS")
    cut = tmp_path / "cut.fits"
    cut.write_bytes(raw[: emiss - emiss % 2880 - 2880 * 3])
    error = _refusal(cut)
    assert error.code == "truncated"
    assert "re-download" in error.message and "past the cut" in error.message


@pytest.mark.parametrize("content, code", [
    (b"", "not_fits"),
    (b"hello, I am a text file", "not_fits"),
    (gzip.compress(b"just some text, compressed"), "not_fits"),
    (b"\x1f\x8b\x08\x00garbage-after-gzip-magic", "corrupt"),
    (b"SIMPLE  =                    T" + b" " * 50 + b"garbage", "corrupt"),
])
def test_not_fits(tmp_path, content, code):
    path = tmp_path / "bad.fits.gz"
    path.write_bytes(content)
    error = _refusal(path)
    assert error.code == code
    assert "bad.fits.gz" in error.message


def test_missing_file(tmp_path):
    assert _refusal(tmp_path / "nowhere.fits").code == "not_found"


def _claim_huge_table(path: Path, extension: str) -> None:
    """Edit the header of ``extension`` in place to claim 60000 x 60000 float32."""
    with fits.open(path) as hdul:
        header_start = hdul.fileinfo(hdul.index_of(extension))["hdrLoc"]
    raw = bytearray(path.read_bytes())
    for key, value in (("NAXIS1", 240000), ("NAXIS2", 60000)):
        card_at = raw.index(f"{key:<8}=".encode(), header_start)
        raw[card_at:card_at + 80] = f"{key:<8}= {value:>20}".ljust(80).encode()
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("extension", ["FOV_GEOM", "EMISS"])
def test_header_claiming_a_huge_table_is_refused_before_allocation(aurora_file, tmp_path,
                                                                   extension):
    plain = tmp_path / "huge.fits"
    plain.write_bytes(gzip.decompress(aurora_file.read_bytes()))
    _claim_huge_table(plain, extension)
    tracemalloc.start()
    error = _refusal(plain)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert error.code == "too_large"
    assert extension in error.message and "AURORA_MAX_HDU_BYTES" in error.message
    assert peak < 100 << 20, f"reader allocated {peak} bytes before refusing"


def test_gzip_bomb_is_refused_without_inflating_it(tmp_path):
    bomb = tmp_path / "bomb.fits.gz"
    bomb.write_bytes(gzip.compress(b"SIMPLE  =" + bytes(64 << 20), compresslevel=1))
    tracemalloc.start()
    with pytest.raises(ObservationError) as info:
        read_l2b(bomb, limits=ReadLimits(max_file_bytes=16 << 20))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert info.value.code == "too_large" and "inflates" in info.value.message
    assert peak < 40 << 20, f"reader held {peak} bytes of a 64 MiB bomb"


def test_too_many_hdus_without_the_needed_ones(aurora_file):
    assert _refusal(aurora_file, limits=ReadLimits(max_hdus=2)).code == "too_large"


def test_all_nan_brightness(aurora_file, tmp_path):
    def blank(hdul):
        hdul["EMISS"].data["RADIANCE"][:] = np.nan

    assert _refusal(rewrite(aurora_file, tmp_path / "nan.fits", blank)).code == "no_valid_data"


def test_detector_pixel_0_reads_as_missing_whatever_the_file_holds(aurora_file, tmp_path):
    """Pixel 0 lies outside the slit (the EMUS team's routines zero it). A file that gives it
    a line of sight onto the night disk and a 400 R column must not hand the screen a line."""
    def sky_at_pixel_0(hdul):
        fov = hdul["FOV_GEOM"]
        middle = fov.data["LAT"].shape[-1] // 2
        for column in fov.columns.names:
            if fov.data[column].ndim == 3:
                fov.data[column][..., 0] = fov.data[column][..., middle]
        emiss = hdul["EMISS"]
        row = [str(name).strip() for name in emiss.data["NAME"]].index(OI_1304_ROW)
        radiance = emiss.data["RADIANCE"][row]
        axis = 1 if radiance.shape[1] == fov.data["LAT"].shape[-1] else 0
        radiance[(slice(None), 0) if axis == 1 else (0, slice(None))] = 400.0

    reference = read_both(aurora_file)
    observation = read_both(rewrite(aurora_file, tmp_path / "pixel0.fits", sky_at_pixel_0))
    assert observation.on_disk[:, 0].any()
    assert np.isnan(observation.brightness_r[:, 0]).all()
    assert np.isnan(observation.brightness_err_r[:, 0]).all()
    np.testing.assert_array_equal(observation.brightness_r[:, 1:], reference.brightness_r[:, 1:])


def test_kilorayleigh_unit_is_scaled(aurora_file, tmp_path):
    def to_kr(hdul):
        emiss = hdul["EMISS"]
        emiss.data["RADIANCE"] /= 1000.0
        emiss.columns["RADIANCE"].unit = "kR"

    reference = read_both(aurora_file).brightness_r
    scaled = read_both(rewrite(aurora_file, tmp_path / "kr.fits", to_kr)).brightness_r
    np.testing.assert_allclose(scaled, reference, rtol=1e-5)


def test_filename_fields():
    old = parse_filename("emm_emu_l2b_20220331t212107_0191_os2_sw1of3_r_v01-04.fits.gz")
    assert old.start_utc == datetime(2022, 3, 31, 21, 21, 7)
    assert (old.orbit, old.mode, old.swath, old.kernels) == (191, "os2", "sw1of3", "r")
    assert (old.version, old.revision, old.level) == (1, 4, "l2b")
    new = parse_filename("/data/emm_emu_l2b_20231105t010203_3012_osr_12345_f_v02-00.fits")
    assert new.swath == "12345" and new.orbit == 3012
    with pytest.raises(ValueError, match="not an EMUS file name"):
        parse_filename("aurora.fits")


def test_a_differently_written_file_gives_the_same_science(aurora_file, aurora_scene, tmp_path):
    """Points-last FOV arrays, -180..180 longitudes, NaN sky brightness, NaN on-disk MRH_ALT."""
    def restyle(hdul):
        fov = hdul["FOV_GEOM"]
        lat = fov.data["LAT"]
        columns = []
        for column in fov.columns:
            cube = np.array(fov.data[column.name], dtype=np.float32)
            if column.name == "LON":
                cube = np.where(cube > 180, cube - 360, cube)
            if column.name == "MRH_ALT":
                cube = np.where(np.isfinite(lat), np.nan, cube)
            if cube.ndim == 3:
                cube = np.moveaxis(cube, 1, 2)
                columns.append(fits.Column(name=column.name, format=f"{cube[0].size}E",
                                           dim=f"(5,{cube.shape[1]})", array=cube))
            elif cube.ndim == 4:
                columns.append(fits.Column(name=column.name, format=column.format,
                                           dim=column.dim, array=cube))
        hdul[hdul.index_of("FOV_GEOM")] = fits.BinTableHDU.from_columns(columns, name="FOV_GEOM")
        radiance = hdul["EMISS"].data["RADIANCE"]
        sky = ~np.isfinite(lat[:, 0, :])
        radiance[:, sky] = np.nan

    observation = read_both(rewrite(aurora_file, tmp_path / "restyled.fits", restyle))
    reference = read_both(aurora_file)
    np.testing.assert_array_equal(observation.lat_deg, reference.lat_deg)
    assert np.nanmin(observation.lon_deg) < 0
    result = classify(observation, render_heatmap(observation))
    assert result.passed
    peak = max(aurora_scene.auroras, key=lambda a: a.peak_r)
    best = result.candidates[0]
    assert best.integration_range[0] - 2 <= peak.peak_pixel[0] <= best.integration_range[1] + 2


def _replace_column(hdul, extension: str, name: str, column) -> None:
    table = hdul[extension]
    columns = [c if c.name != name else column for c in table.columns]
    hdul[hdul.index_of(extension)] = fits.BinTableHDU.from_columns(columns, name=extension)


@pytest.mark.parametrize("case", ["radiance as text", "latitude as text", "no emission rows",
                                  "radiance as integers"])
def test_wrong_dtypes_and_empty_tables(aurora_file, tmp_path, case):
    def change(hdul):
        emiss, fov = hdul["EMISS"], hdul["FOV_GEOM"]
        if case == "radiance as text":
            _replace_column(hdul, "EMISS", "RADIANCE", fits.Column(
                name="RADIANCE", format="8A", array=np.array(["bright"] * len(emiss.data))))
        elif case == "latitude as text":
            _replace_column(hdul, "FOV_GEOM", "LAT", fits.Column(
                name="LAT", format="4A", array=np.array(["N"] * len(fov.data))))
        elif case == "no emission rows":
            hdul[hdul.index_of("EMISS")] = fits.BinTableHDU(data=emiss.data[:0], name="EMISS")
        else:
            radiance = np.nan_to_num(emiss.data["RADIANCE"]).astype(np.int16)
            column = emiss.columns["RADIANCE"]
            _replace_column(hdul, "EMISS", "RADIANCE", fits.Column(
                name="RADIANCE", format=f"{radiance[0].size}I", dim=column.dim, array=radiance))

    path = rewrite(aurora_file, tmp_path / "dtype.fits", change)
    if case == "radiance as integers":
        assert np.nanmax(read_both(path).brightness_r) > 1
        return
    error = _refusal(path)
    assert error.code in ERROR_CODES and error.code != "internal"
    assert "dtype.fits" in error.message


def test_a_file_of_several_gzip_members_reads_as_one(aurora_file, tmp_path):
    raw = gzip.decompress(aurora_file.read_bytes())
    half = len(raw) // 2
    split = tmp_path / "members.fits.gz"
    split.write_bytes(gzip.compress(raw[:half]) + gzip.compress(raw[half:]) + b"\0" * 16)
    np.testing.assert_array_equal(read_both(split).brightness_r,
                                  read_both(aurora_file).brightness_r)


def _insert_card(path: Path, extension: str, card: str) -> None:
    """Add a header card in place, in the blank space before the header block ends."""
    with fits.open(path) as hdul:
        start = hdul.fileinfo(hdul.index_of(extension))["hdrLoc"]
    raw = bytearray(path.read_bytes())
    end = next(at for at in range(start, len(raw), 80) if raw[at:at + 80].rstrip() == b"END")
    assert (end + 80) % 2880 and raw[end + 80:end + 160].strip() == b"", "no room for a card"
    raw[end:end + 160] = card.ljust(80).encode() + b"END".ljust(80)
    path.write_bytes(bytes(raw))


def test_a_scaled_column_is_read_by_astropy(aurora_file, tmp_path):
    """TSCAL columns are outside the streaming reader: astropy applies the scaling."""
    def to_integer_counts(hdul):
        emiss = hdul["EMISS"]
        column = emiss.columns["RADIANCE"]
        counts = np.rint(np.nan_to_num(emiss.data["RADIANCE"]) / 0.01).astype(np.int32)
        _replace_column(hdul, "EMISS", "RADIANCE", fits.Column(
            name="RADIANCE", format=f"{counts[0].size}J", dim=column.dim, array=counts))

    path = rewrite(aurora_file, tmp_path / "scaled.fits", to_integer_counts)
    with fits.open(path) as hdul:
        number = hdul["EMISS"].columns.names.index("RADIANCE") + 1
    _insert_card(path, "EMISS", f"TSCAL{number:<3}= 0.01")
    observation = read_l2b(path)
    assert observation.reader == "astropy"
    reference = read_both(aurora_file).brightness_r
    on = np.isfinite(reference)
    np.testing.assert_allclose(observation.brightness_r[on], reference[on], atol=0.006)


def test_an_unknown_reader_is_refused(aurora_file):
    with pytest.raises(ValueError, match="reader must be"):
        read_l2b(aurora_file, reader="fitsio")


def test_plain_fits_is_streamed_too(aurora_file, tmp_path):
    plain = tmp_path / "plain.fits"
    plain.write_bytes(gzip.decompress(aurora_file.read_bytes()))
    np.testing.assert_array_equal(read_both(plain).brightness_r,
                                  read_both(aurora_file).brightness_r)


def test_zero_padding_after_the_last_hdu_is_still_streamed(aurora_file, tmp_path):
    """Without the optional TIME table the reader looks past EMISS, into the padding."""
    path = rewrite(aurora_file, tmp_path / "padded-end.fits",
                   lambda hdul: hdul.pop(hdul.index_of("TIME")))
    path.write_bytes(path.read_bytes() + bytes(2 * 2880))
    observation = read_l2b(path)
    assert observation.reader == "stream" and observation.time_utc == ()
    np.testing.assert_array_equal(observation.brightness_r, read_both(aurora_file).brightness_r)
