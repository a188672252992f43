"""Write a :class:`~marsaurora.synth.scene.Scene` as an EMUS Level 2B file.

The layout follows ``shared/docs/emus-l2b-format.md``: primary header, TIME,
SC_GEOM, FOV_GEOM (five points per pixel), WAVELENGTH, CAL and EMISS (one row
per emission feature, long names). Both conventions the page says occur in
real files can be written, so the reader is tested against both: the EMISS
brightness as ``(nint, npix)`` or ``(npix, nint)`` once astropy reads it, and
the FOV pixel centre at point index 0 or 4.
"""

import gzip
import io
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from astropy.io import fits

from marsaurora.emus import OI_1304_ROW
from marsaurora.mars import MARS_RADIUS_KM
from marsaurora.synth.scene import Scene

INTEGRATION_S = 6.0
J2000 = datetime(2000, 1, 1, 11, 58, 55, 816000)
AU_KM = 1.496e8

# Emission features fitted in L2B files, with rough brightness relative to O I 130.4.
EMISSION_FEATURES: tuple[tuple[str, float, float, float], ...] = (
    ("H I 102.6 Lyman-beta", 102.2, 103.0, 0.05),
    ("O I 102.7 triplet", 102.4, 103.1, 0.03),
    ("Ar I 104.8 singlet", 104.5, 105.1, 0.01),
    ("N I 113.4 triplet", 113.1, 113.7, 0.01),
    ("O I 115.2 singlet", 115.0, 115.4, 0.01),
    ("N I 120.0 triplet", 119.8, 120.3, 0.02),
    ("H I 121.6 singlet", 121.2, 122.0, 8.0),
    ("N I 124.3 doublet", 124.1, 124.5, 0.01),
    ("C I 127.8 singlet", 127.6, 128.0, 0.01),
    (OI_1304_ROW, 130.0, 130.8, 1.0),
    ("O I 135.6 doublet", 135.3, 135.9, 0.2),
    ("N I 149.3 doublet", 149.1, 149.5, 0.02),
    ("C I 156.1 multiplet", 155.9, 156.3, 0.03),
    ("C I 165.7 multiplet", 165.5, 165.9, 0.05),
    ("CO 4PG 0-0 band", 154.2, 155.0, 0.1),
    ("CO 4PG 1-0 band", 150.7, 151.5, 0.1),
    ("CO 4PG 2-0 band", 147.4, 148.2, 0.1),
    ("CO 4PG 3-0 band", 144.4, 145.2, 0.08),
    ("CO 4PG 4-0 band", 141.6, 142.4, 0.07),
    ("CO 4PG 5-0 band", 139.0, 139.8, 0.05),
    ("CO 4PG 6-0 band", 136.6, 137.4, 0.04),
    ("CO 4PG 7-0 band", 134.4, 135.2, 0.03),
    ("CO 4PG 0-1 band", 159.3, 160.1, 0.08),
    ("CO 4PG 1-1 band", 155.8, 156.6, 0.06),
    ("CO 4PG 0-2 band", 164.6, 165.4, 0.06),
    ("CO Cameron 0-0 band", 205.5, 206.5, 0.0),
    ("CO+ 1N band", 218.5, 219.5, 0.0),
    ("C II 133.5 doublet", 133.3, 133.7, 0.05),
    ("N2 LBH band", 138.0, 140.0, 0.05),
)
WAVELENGTH_GRID_NM = np.linspace(100.0, 170.0, 24)
FOV_COLUMNS = ("LAT", "LON", "RA", "DEC", "MRH_ALT", "SOLAR_Z_ANGLE",
                    "EMISSION_ANGLE", "PHASE_ANGLE", "LOCAL_TIME")


def write_l2b(scene: Scene, path: Path, *, start_utc: datetime, radiance_axes: str = "nint,npix",
              centre_point: int = 0, compresslevel: int = 4, seed: int | None = None) -> None:
    """Write ``scene`` to ``path`` (gzip-compressed when the name ends in ``.gz``).

    Parameters
    ----------
    radiance_axes : {"nint,npix", "npix,nint"}
        Array shape astropy will present for the EMISS brightness rows.
    centre_point : {0, 4}
        Which of the five FOV_GEOM points holds the pixel centre.
    """
    if radiance_axes not in ("nint,npix", "npix,nint"):
        raise ValueError(f"radiance_axes must be 'nint,npix' or 'npix,nint', got {radiance_axes!r}")
    if centre_point not in (0, 4):
        raise ValueError(f"centre_point must be 0 or 4, got {centre_point!r}")
    view = scene.view
    features = _feature_brightness(scene)
    end_utc = start_utc + timedelta(seconds=INTEGRATION_S * view.nint)
    hdus = fits.HDUList([
        _primary(scene, start_utc, end_utc, seed),
        _time(start_utc, view.nint),
        _sc_geom(scene),
        _fov_geom(scene, centre_point),
        _wavelength(view.npix),
        _cal(scene, features),
        _emiss(scene, features, radiance_axes),
    ])
    buffer = io.BytesIO()
    hdus.writeto(buffer)
    payload = buffer.getvalue()
    if path.name.endswith(".gz"):
        payload = gzip.compress(payload, compresslevel=compresslevel, mtime=0)
    path.write_bytes(payload)


def _primary(scene: Scene, start: datetime, end: datetime, seed: int | None) -> fits.PrimaryHDU:
    header = fits.Header()
    header["DATE"] = (datetime(2026, 1, 1).strftime("%Y-%m-%d"), "file creation date")
    header["OBS_UTC"] = (start.strftime("%Y-%m-%dT%H:%M:%S"), "start of observation")
    header["END_UTC"] = (end.strftime("%Y-%m-%dT%H:%M:%S"), "end of observation")
    header["MARSYEAR"] = 36 + (start.year - 2021) // 2
    header["SOL_LONG"] = (round((start.timetuple().tm_yday * 0.524) % 360, 2), "deg")
    header["QLTY_FLG"] = 0
    header["IMG_RCV"] = 1
    header["ORIGIN"] = "marsaurora synthetic generator"
    header["SCENARIO"] = scene.scenario
    if seed is not None:
        header["SYNSEED"] = (seed, "generator seed")
    return fits.PrimaryHDU(header=header)


def _time(start: datetime, nint: int) -> fits.BinTableHDU:
    offsets = np.arange(nint) * INTEGRATION_S
    et = (start - J2000).total_seconds() + offsets
    utc = [(start + timedelta(seconds=float(s))).strftime("%Y-%m-%dT%H:%M:%S.%f")[:23]
           for s in offsets]
    return fits.BinTableHDU.from_columns([
        fits.Column(name="TIME_ET", format="D", unit="s", array=et),
        fits.Column(name="TIME_UTC", format="23A", array=np.array(utc)),
    ], name="TIME")


def _sc_geom(scene: Scene) -> fits.BinTableHDU:
    view, nint = scene.view, scene.view.nint

    def repeat(value: float) -> np.ndarray:
        return np.full(nint, value, dtype=np.float32)

    def vectors(vector: np.ndarray) -> np.ndarray:
        return np.tile(vector.astype(np.float32), (nint, 1))

    return fits.BinTableHDU.from_columns([
        fits.Column(name="SC_ALT", format="E", unit="km",
                    array=repeat(view.sc_distance_km - MARS_RADIUS_KM)),
        fits.Column(name="SUB_SC_LON", format="E", unit="deg", array=repeat(view.sub_sc_lon_deg)),
        fits.Column(name="SUB_SC_LAT", format="E", unit="deg", array=repeat(view.sub_sc_lat_deg)),
        fits.Column(name="SUB_SOLAR_LON", format="E", unit="deg",
                    array=repeat(view.sub_solar_lon_deg)),
        fits.Column(name="SUB_SOLAR_LAT", format="E", unit="deg",
                    array=repeat(view.sub_solar_lat_deg)),
        fits.Column(name="V_SC_POS_MSO", format="3E", unit="km",
                    array=vectors(view.spacecraft_km)),
        fits.Column(name="V_SUN_POS_MME", format="3E", unit="km",
                    array=vectors(view.sun_direction * AU_KM)),
        fits.Column(name="V_SUN_POS_MARS", format="3E", unit="km",
                    array=vectors(view.sun_direction * AU_KM)),
    ], name="SC_GEOM")


def _fov_geom(scene: Scene, centre_point: int) -> fits.BinTableHDU:
    geometry, npix = scene.geometry, scene.view.npix
    order = [0, 1, 2, 3, 4] if centre_point == 0 else [1, 2, 3, 4, 0]
    arrays = {
        "LAT": geometry.lat_deg, "LON": geometry.lon_deg, "RA": geometry.ra_deg,
        "DEC": geometry.dec_deg, "MRH_ALT": geometry.mrh_alt_km,
        "SOLAR_Z_ANGLE": geometry.sza_deg, "EMISSION_ANGLE": geometry.emission_deg,
        "PHASE_ANGLE": geometry.phase_deg,
        "LOCAL_TIME": np.where(np.isfinite(geometry.lat_deg), geometry.local_time_h, np.nan),
    }
    units = {"MRH_ALT": "km", "LOCAL_TIME": "h"}
    columns = []
    for name in FOV_COLUMNS:
        cube = arrays[name][:, order, :].astype(np.float32)
        cube[:, :, 0] = np.nan  # detector pixel 0 lies outside the slit
        columns.append(fits.Column(name=name, format=f"{5 * npix}E", dim=f"({npix},5)",
                                   unit=units.get(name, "deg"), array=cube))
    for name, vectors in (("VEC_MSO", geometry.look), ("VEC_MARS", geometry.surface_km)):
        cube = np.moveaxis(vectors[:, order], -1, 1).astype(np.float32)
        columns.append(fits.Column(name=name, format=f"{15 * npix}E", dim=f"({npix},5,3)",
                                   array=cube))
    return fits.BinTableHDU.from_columns(columns, name="FOV_GEOM")


def _wavelength(npix: int) -> fits.BinTableHDU:
    grid = np.tile(WAVELENGTH_GRID_NM.astype(np.float32), (1, npix, 1))
    return fits.BinTableHDU.from_columns([
        fits.Column(name="WAVELENGTH_L2A", format=f"{grid[0].size}E",
                    dim=f"({WAVELENGTH_GRID_NM.size},{npix})", unit="nm", array=grid),
    ], name="WAVELENGTH")


def _feature_brightness(scene: Scene) -> np.ndarray:
    """``(nfeature, nint, npix)`` brightness: 130.4 as observed, others scaled dayside."""
    rows = []
    for name, _, _, ratio in EMISSION_FEATURES:
        if name == OI_1304_ROW:
            rows.append(scene.brightness_r)
        else:
            rows.append((ratio * scene.dayside_r).astype(np.float32))
    return np.stack(rows)


def _cal(scene: Scene, features: np.ndarray) -> fits.BinTableHDU:
    """Coarse spectra: each feature's brightness spread over its wavelength bins."""
    spectra = np.zeros(features.shape[1:] + (WAVELENGTH_GRID_NM.size,), dtype=np.float32)
    width = WAVELENGTH_GRID_NM[1] - WAVELENGTH_GRID_NM[0]
    for brightness, (_, start, stop, _) in zip(features, EMISSION_FEATURES, strict=True):
        bin_index = int(np.clip(np.searchsorted(WAVELENGTH_GRID_NM, (start + stop) / 2),
                                0, WAVELENGTH_GRID_NM.size - 1))
        spectra[..., bin_index] += np.nan_to_num(brightness) / width
    npix, nwave = scene.view.npix, WAVELENGTH_GRID_NM.size
    fmt, dim = f"{npix * nwave}E", f"({nwave},{npix})"
    return fits.BinTableHDU.from_columns([
        fits.Column(name="RADIANCE", format=fmt, dim=dim, unit="R/nm", array=spectra),
        fits.Column(name="RAD_ERR_RAND", format=fmt, dim=dim, unit="R/nm",
                    array=np.sqrt(np.abs(spectra) / scene.gain_counts_per_r)),
    ], name="CAL")


def _emiss(scene: Scene, brightness: np.ndarray, radiance_axes: str) -> fits.BinTableHDU:
    nint, npix = scene.view.nint, scene.view.npix
    errors = np.sqrt(np.abs(brightness) / scene.gain_counts_per_r).astype(np.float32)
    errors[[name == OI_1304_ROW for name, *_ in EMISSION_FEATURES]] = scene.error_r
    if radiance_axes == "npix,nint":
        brightness, errors = brightness.transpose(0, 2, 1), errors.transpose(0, 2, 1)
        dim = f"({nint},{npix})"
    else:
        dim = f"({npix},{nint})"
    count = len(EMISSION_FEATURES)
    fmt = f"{nint * npix}E"
    return fits.BinTableHDU.from_columns([
        fits.Column(name="NAME", format="32A", array=np.array([f[0] for f in EMISSION_FEATURES])),
        fits.Column(name="WL_START", format="2E", unit="nm",
                    array=np.array([[f[1], f[1]] for f in EMISSION_FEATURES], np.float32)),
        fits.Column(name="WL_STOP", format="2E", unit="nm",
                    array=np.array([[f[2], f[2]] for f in EMISSION_FEATURES], np.float32)),
        fits.Column(name="DOF", format="2I", array=np.full((count, 2), 3, np.int16)),
        fits.Column(name="RADIANCE", format=fmt, dim=dim, unit="R", array=brightness),
        fits.Column(name="RAD_ERR_RAND", format=fmt, dim=dim, unit="R", array=errors),
        fits.Column(name="RAD_ERR_SYS", format=fmt, dim=dim, unit="R",
                    array=(0.1 * np.abs(brightness)).astype(np.float32)),
        fits.Column(name="GOODNESS_OF_FIT", format="E", array=np.ones(count, np.float32)),
        fits.Column(name="QLTY_FLG", format="I", array=np.zeros(count, np.int16)),
    ], name="EMISS")
