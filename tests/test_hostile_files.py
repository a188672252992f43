"""Files built to hang, bloat or crash the reader: each is refused quickly and cheaply.

The files are made here from the session's synthetic L2B file (see
``hostile.py``); bounds are generous (this machine is shared), but each is
orders of magnitude below what the defect cost.
"""

import gzip
import io
import json

import numpy as np
import pytest
from astropy.io import fits
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marsaurora import jsonsafe
from marsaurora.emus import Observation, read_l2b
from marsaurora.classify.excess import excess_map
from marsaurora.classify.features import MAX_FEATURES
from marsaurora.classify.physical import physical_screen
from marsaurora.errors import ERROR_CODES, ObservationError
from marsaurora.fits_tables import MAX_GZIP_MEMBERS
from marsaurora.pipeline import PipelineOptions, process_file

from hostile import bounded, header_spans, with_card

MB = 1 << 20


@pytest.fixture(scope="module")
def plain(aurora_file) -> bytes:
    """The synthetic L2B file, uncompressed."""
    return gzip.decompress(aurora_file.read_bytes())


def _read(tmp_path, payload: bytes, name: str = "hostile.fits.gz", **kwargs):
    path = tmp_path / name
    path.write_bytes(payload)
    return read_l2b(path, **kwargs)


def _refused(tmp_path, payload: bytes, **kwargs) -> ObservationError:
    with pytest.raises(ObservationError) as refused:
        _read(tmp_path, payload, **kwargs)
    return refused.value


@pytest.mark.parametrize("extension", ["FOV_GEOM", "EMISS"])
@pytest.mark.parametrize("keyword, value", [("GCOUNT", "0"), ("BITPIX", "0"), ("BITPIX", "4"),
                                            ("NAXIS", "0"), ("NAXIS", "1"), ("PCOUNT", "-5"),
                                            ("BITPIX", "16"), ("GCOUNT", "3")])
def test_header_numbers_that_once_hung_the_reader_are_refused(plain, tmp_path, extension,
                                                              keyword, value):
    hostile = gzip.compress(with_card(plain, extension, keyword, value), compresslevel=1)
    with bounded(seconds=20, peak_bytes=200 * MB):
        error = _refused(tmp_path, hostile)
    assert error.code == "corrupt"
    assert keyword in error.message and extension in error.message


def test_a_tfields_bomb_never_reaches_astropy(plain, tmp_path):
    hostile = gzip.compress(with_card(plain, "EMISS", "TFIELDS", str(10**9)))
    for reader in ("auto", "astropy"):
        with bounded(seconds=20, peak_bytes=200 * MB):
            error = _refused(tmp_path, hostile, reader=reader)
        assert error.code == "corrupt" and "TFIELDS" in error.message


def test_a_time_table_of_twenty_million_rows_is_not_decoded(plain, tmp_path):
    rows = 20_000_000
    header = fits.BinTableHDU.from_columns(
        [fits.Column(name="TIME_UTC", format="2A", array=np.array(["ab"]))], name="TIME").header
    header["NAXIS2"] = rows
    spans = header_spans(plain)
    time = next(i for i, span in enumerate(spans) if span.name == "TIME")
    after = spans[time + 1].start if time + 1 < len(spans) else len(plain)
    bomb = (header.tostring().encode("ascii") + bytes(-(-2 * rows // 2880) * 2880))
    hostile = gzip.compress(plain[:spans[time].start] + bomb + plain[after:], compresslevel=6)
    with bounded(seconds=30, peak_bytes=120 * MB):
        observation = _read(tmp_path, hostile)
    assert observation.time_utc == ()


def test_millions_of_empty_gzip_members_are_refused_quickly(tmp_path):
    empty = gzip.compress(b"", compresslevel=1)
    with bounded(seconds=20, peak_bytes=100 * MB):
        error = _refused(tmp_path, empty * (5 * MAX_GZIP_MEMBERS))
    assert error.code == "corrupt" and "gzip members" in error.message


def test_the_astropy_fallback_holds_the_inflated_file_once(plain, tmp_path):
    padding = fits.ImageHDU(np.zeros(160 * MB // 4, np.float32), name="PAD")
    hdus = fits.HDUList.fromstring(plain)
    hdus.insert(1, padding)
    emiss = hdus["EMISS"]
    emiss.header["TSCAL5"] = 1.0
    buffer = io.BytesIO()
    hdus.writeto(buffer)
    inflated = len(buffer.getvalue())
    hostile = gzip.compress(buffer.getvalue(), compresslevel=1)
    del buffer, hdus
    with bounded(seconds=60, peak_bytes=int(1.3 * inflated)):
        observation = _read(tmp_path, hostile)
    assert observation.reader == "astropy"


HEADER_KEYS = ["GCOUNT", "PCOUNT", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "TFIELDS"]


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(extension=st.sampled_from(["FOV_GEOM", "EMISS", "TIME"]),
       keyword=st.sampled_from(HEADER_KEYS + ["TFORM5", "TFORM1"]),
       number=st.one_of(st.integers(min_value=-3, max_value=70),
                        st.integers(min_value=-(2**63), max_value=2**63)))
def test_any_header_number_gives_a_result_or_a_refusal_in_bounded_time_and_memory(
        plain, tmp_path, extension, keyword, number):
    value = f"'{number}E'" if keyword.startswith("TFORM") else str(number)
    try:
        hostile = with_card(plain, extension, keyword, value)
    except ValueError:
        return
    with bounded(seconds=30, peak_bytes=300 * MB):
        try:
            _read(tmp_path, hostile, name="fuzz.fits")
        except ObservationError as error:
            assert error.code in ERROR_CODES and "fuzz.fits" in error.message


def test_infinite_values_never_reach_a_record_as_infinity(aurora_file, tmp_path):
    hdus = fits.open(io.BytesIO(gzip.decompress(aurora_file.read_bytes())), mode="update")
    fov = hdus["FOV_GEOM"].data
    fov["SOLAR_Z_ANGLE"][5] = np.inf
    emiss = hdus["EMISS"]
    emiss.data["RAD_ERR_RAND"][list(emiss.data["NAME"]).index("O I 130.4 triplet")][..., :3] = \
        np.inf
    emiss.columns["RADIANCE"].unit = "kR"
    emiss.data["RADIANCE"][list(emiss.data["NAME"]).index("O I 130.4 triplet")][..., 7] = 3e38
    path = tmp_path / "infinite.fits"
    hdus.writeto(path)
    record = process_file(path, PipelineOptions(detector=None)).to_json()
    def refuse(constant):
        raise AssertionError(f"{constant} in a record")

    json.dumps(record, allow_nan=False)
    strict = json.loads(jsonsafe.dumps(record), parse_constant=refuse)
    assert strict["status"] in ("aurora", "no_aurora")
    assert any("infinite or beyond float32" in w for w in record["warnings"])
    assert any("SOLAR_Z_ANGLE values are infinite" in w for w in record["warnings"])


def test_a_scan_of_forty_thousand_integrations_is_refused_not_an_opencv_assertion(tmp_path):
    nint, npix = 40_000, 8
    cube = np.full((nint, 5, npix), np.nan, np.float32)
    cube[:, :, 2:6] = 10.0
    columns = [fits.Column(name=name, format=f"{5 * npix}E", dim=f"({npix},5)", array=cube)
               for name in ("LAT", "LON", "SOLAR_Z_ANGLE", "EMISSION_ANGLE")]
    emiss = fits.BinTableHDU.from_columns([
        fits.Column(name="NAME", format="20A", array=np.array(["O I 130.4 triplet"])),
        fits.Column(name="RADIANCE", format=f"{nint * npix}E", dim=f"({npix},{nint})",
                    array=np.ones((1, nint, npix), np.float32))], name="EMISS")
    hdus = fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(columns,
                                                                          name="FOV_GEOM"), emiss])
    path = tmp_path / "long.fits"
    hdus.writeto(path)
    record = process_file(path, PipelineOptions(detector=None)).to_json()
    assert record["error"]["code"] == "too_large" and "40000 integrations" in \
        record["error"]["message"]


def _lattice_scan(side: int):
    """A night scan of ``side`` x ``side`` pixels covered by a lattice of small bright blocks."""
    rows, cols = np.mgrid[0:side, 0:side]
    lattice = np.where((rows % 5 < 2) & (cols % 5 < 2), 40.0, 0.0)
    full = np.ones((side, side), np.float32)
    counts = np.random.default_rng(0).poisson(4.0 * (0.5 + lattice)).astype(np.float32)
    return Observation(
        name="lattice.fits", filename=None, brightness_r=counts / 4.0,
        brightness_err_r=np.sqrt(counts) / 4.0,
        lat_deg=((rows - side / 2) * 80.0 / side).astype(np.float32),
        lon_deg=(cols * 80.0 / side).astype(np.float32),
        lat_corners_deg=np.zeros((4, side, side), np.float32),
        lon_corners_deg=np.zeros((4, side, side), np.float32),
        sza_deg=full * 140.0, emission_deg=(cols * 60.0 / side).astype(np.float32),
        local_time_h=full * 0.0, mrh_alt_km=full * -100.0, time_utc=(),
        radiance_axes="nint,npix", centre_point=0)


@pytest.mark.parametrize("side", [400, 1000])
def test_a_lattice_of_thousands_of_blobs_costs_one_pass_and_a_bounded_record(side):
    scan = _lattice_scan(side)
    with bounded(seconds=60, peak_bytes=1500 * MB):
        excess = excess_map(scan)
        result = physical_screen(scan, excess=excess)
    assert excess.features_found > 1000 and len(excess.features) == MAX_FEATURES
    assert len(result.candidates) <= MAX_FEATURES
    record = json.dumps([c.to_record() for c in result.candidates])
    assert len(record) < 64 * 1024
