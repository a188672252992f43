"""Read EMM/EMUS Level 2B files into one typed :class:`Observation`.

Real files vary (see ``shared/docs/emus-l2b-format.md``), so this reader
decides rather than assumes:

- the ``O I 130.4 triplet`` brightness is found by row name in ``EMISS``;
- its axis order, ``(nint, npix)`` or ``(npix, nint)``, is decided by
  matching the shapes of ``FOV_GEOM``;
- which of the five ``FOV_GEOM`` points is the pixel centre (index 0 or 4)
  is decided from the geometry itself: the centre is the point nearest the
  mean of the other four;
- header sizes are checked against limits before any data is read, so a
  header claiming a 60000 x 60000 table costs nothing.

Files are streamed once by :mod:`marsaurora.fits_tables`, keeping only the
tables needed; whatever that reader does not handle is read with astropy
instead (:func:`marsaurora.fits_open.astropy_tables`), so both give the
same observation or the same refusal.
"""

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from marsaurora.errors import ObservationError
from marsaurora.fits_open import (
    AstropyTable,
    ReadLimits,
    astropy_tables,
    file_too_large,
    is_gzip,
    malformed,
)
from marsaurora.fits_tables import Malformed, Table, read_tables

OI_1304_ROW = "O I 130.4 triplet"
"""Name of the EMISS row holding the O I 130.4 nm brightness."""

GEOMETRY_COLUMNS = {
    "lat_deg": "LAT",
    "lon_deg": "LON",
    "sza_deg": "SOLAR_Z_ANGLE",
    "emission_deg": "EMISSION_ANGLE",
    "local_time_h": "LOCAL_TIME",
    "mrh_alt_km": "MRH_ALT",
}
"""Observation attribute -> FOV_GEOM column, for the per-pixel geometry."""
OPTIONAL_GEOMETRY = frozenset({"LOCAL_TIME", "MRH_ALT"})
"""Columns the screens do without (read as NaN, with a warning, when absent)."""

REQUIRED_TABLES = ("FOV_GEOM", "EMISS")
OPTIONAL_TABLES = ("TIME", "SC_GEOM")
FOV_POINTS = 5
OUTSIDE_SLIT_PIXEL = 0
"""Detector pixel that lies outside the slit: the EMUS team's routines set it to zero, and
whatever a file holds there is not sky, so it reads as missing (NaN), like a gap."""
MAX_SCAN_SIDE = 8192
"""Most integrations or slit pixels of a scan: far above any EMUS swath, and below the
32767 OpenCV can remap."""
CENTRE_SAMPLE_ROWS = 32
log = logging.getLogger(__name__)
_FILENAME = re.compile(
    r"^emm_emu_(?P<level>l[0-9][a-z]?)_(?P<start>\d{8}t\d{6})_(?P<orbit>\d+)_"
    r"(?P<mode>[a-z0-9]+)_(?P<swath>[a-z0-9]+)_(?P<kernels>[prfn])_"
    r"v(?P<version>\d+)-(?P<revision>\d+)\.(?:fits|fit|fts)(?:\.gz)?$",
    re.IGNORECASE)


@dataclass(frozen=True)
class EmusFileName:
    """The fields encoded in an EMUS product file name."""

    level: str
    start_utc: datetime
    orbit: int
    mode: str
    swath: str
    kernels: str
    version: int
    revision: int


def parse_filename(name: str) -> EmusFileName:
    """Split ``emm_emu_l2b_20220331t212107_0191_os2_sw1of3_r_v01-04.fits.gz``.

    The swath field is kept as text: older files write ``swNofM``, newer
    ones an integer id.

    Raises
    ------
    ValueError
        If ``name`` does not follow the EMUS naming convention.
    """
    match = _FILENAME.match(Path(name).name)
    if match is None:
        raise ValueError(f"{name!r} is not an EMUS file name "
                         "(emm_emu_<level>_<start>_<orbit>_<mode>_<swath>_<kernels>_vVV-RR.fits[.gz])")
    fields = match.groupdict()
    return EmusFileName(
        level=fields["level"].lower(),
        start_utc=datetime.strptime(fields["start"].lower(), "%Y%m%dt%H%M%S"),
        orbit=int(fields["orbit"]),
        mode=fields["mode"].lower(),
        swath=fields["swath"].lower(),
        kernels=fields["kernels"].lower(),
        version=int(fields["version"]),
        revision=int(fields["revision"]),
    )



@dataclass(frozen=True, eq=False)
class Observation:
    """The 130.4 nm brightness of one scan with its per-pixel geometry.

    Every image is ``(nint, npix)``: one row per integration, one column per
    slit pixel. Off-disk pixels have NaN latitude and longitude; missing
    integrations have NaN brightness.

    Attributes
    ----------
    brightness_r, brightness_err_r : numpy.ndarray
        O I 130.4 nm brightness and its random error, in rayleigh.
    lat_deg, lon_deg : numpy.ndarray
        Planetocentric latitude and east longitude of each pixel centre, deg.
    lat_corners_deg, lon_corners_deg : numpy.ndarray
        ``(4, nint, npix)`` footprint corners, deg, for areas and outlines.
    sza_deg, emission_deg : numpy.ndarray
        Solar zenith and emission angles, deg.
    local_time_h : numpy.ndarray
        Local solar time, hours.
    mrh_alt_km : numpy.ndarray
        Minimum ray height altitude, km.
    """

    name: str
    filename: EmusFileName | None
    brightness_r: np.ndarray
    brightness_err_r: np.ndarray
    lat_deg: np.ndarray
    lon_deg: np.ndarray
    lat_corners_deg: np.ndarray
    lon_corners_deg: np.ndarray
    sza_deg: np.ndarray
    emission_deg: np.ndarray
    local_time_h: np.ndarray
    mrh_alt_km: np.ndarray
    time_utc: tuple[str, ...]
    radiance_axes: str
    centre_point: int
    warnings: tuple[str, ...] = ()
    reader: str = "astropy"
    """Which reader produced it: ``"stream"`` (the usual) or ``"astropy"``."""
    sc_alt_km: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    """Spacecraft altitude per integration (``SC_GEOM`` ``SC_ALT``), km; empty when unknown."""

    @property
    def shape(self) -> tuple[int, int]:
        """``(nint, npix)``."""
        return self.brightness_r.shape

    @property
    def on_disk(self) -> np.ndarray:
        """Pixels whose line of sight meets the surface."""
        return np.isfinite(self.lat_deg) & np.isfinite(self.lon_deg)


def read_l2b(path: str | Path, *, limits: ReadLimits = ReadLimits(),
             reader: str = "auto", data: bytes | None = None) -> Observation:
    """Read the O I 130.4 nm brightness and geometry of an EMUS L2B file.

    Parameters
    ----------
    path : str or pathlib.Path
        ``emm_emu_l2b_*.fits`` or ``*.fits.gz``; other names are read too.
    limits : ReadLimits
        Sizes refused before any data is allocated.
    reader : {"auto", "astropy"}
        ``"auto"`` streams the three tables needed (:mod:`marsaurora.fits_tables`)
        and hands anything that reader does not handle to astropy;
        ``"astropy"`` always uses astropy. Both give the same observation.
    data : bytes, optional
        The file's bytes, when they are already in memory (a stage that
        fetched them from a bucket); ``path`` then only names the file.
        Saves writing and re-reading a temporary file.

    Returns
    -------
    Observation

    Raises
    ------
    ObservationError
        With a stable ``code`` (see :data:`marsaurora.errors.ERROR_CODES`) and
        a message naming the file, the problem and what was found instead.
    """
    if reader not in ("auto", "astropy"):
        raise ValueError(f"reader must be 'auto' or 'astropy', not {reader!r}")
    path = Path(path)
    if data is None and not path.is_file():
        raise ObservationError("not_found", f"{path} does not exist or is not a file.")
    source: Path | bytes = path if data is None else data
    size = path.stat().st_size if data is None else len(data)
    if size > limits.max_file_bytes:
        raise file_too_large(path.name, size, limits.max_file_bytes)
    compressed = is_gzip(path.name, source)
    if reader == "auto":
        try:
            tables = read_tables(source, set(REQUIRED_TABLES), set(OPTIONAL_TABLES),
                                 compressed=compressed, max_bytes=limits.max_file_bytes,
                                 max_table_bytes=limits.max_hdu_bytes, max_hdus=limits.max_hdus)
            return _observation(path, tables, "stream")
        except ObservationError:
            raise
        except Malformed as exc:
            raise malformed(path.name, exc) from None
        except Exception as exc:  # noqa: BLE001 - astropy reads it, or says what is wrong
            log.debug("astropy reads %s: %s", path.name, exc)
    with astropy_tables(path, source, compressed, limits, required=REQUIRED_TABLES,
                        optional=OPTIONAL_TABLES, expected="a Level 2B file") as tables:
        return _observation(path, tables, "astropy")




def _observation(path: Path, tables: dict[str, "Table | AstropyTable"],
                 reader: str) -> Observation:
    fov, emiss = tables["FOV_GEOM"], tables["EMISS"]

    notes: list[str] = []
    geometry, centre, corners = _read_geometry(path, fov, notes)
    nint, npix = geometry["lat_deg"].shape
    brightness, error, axes = _read_oi_1304(path, emiss, nint, npix,
                                            geometry["sza_deg"], notes)
    brightness[:, OUTSIDE_SLIT_PIXEL] = np.nan
    error[:, OUTSIDE_SLIT_PIXEL] = np.nan
    time_utc = _read_times(tables.get("TIME"), nint)
    sc_alt_km = _read_altitudes(tables.get("SC_GEOM"), nint)
    observation = Observation(
        name=path.name,
        filename=_try_parse_filename(path.name, notes),
        brightness_r=brightness,
        brightness_err_r=error,
        lat_corners_deg=corners["lat_deg"],
        lon_corners_deg=corners["lon_deg"],
        time_utc=time_utc,
        radiance_axes=axes,
        centre_point=centre,
        warnings=tuple(notes),
        reader=reader,
        sc_alt_km=sc_alt_km,
        **geometry,
    )
    _check_content(observation)
    return observation



def _column(path: Path, table: "Table | AstropyTable", name: str) -> np.ndarray:
    names = table.column_names()
    if name not in names:
        raise ObservationError("missing_column", f"{path.name}: extension {table.name} has "
                               f"no {name} column (it has {sorted(names)}).")
    return table.column(name)


def _read_geometry(path: Path, fov: "Table | AstropyTable", notes: list[str]) -> tuple[
        dict[str, np.ndarray], int, dict[str, np.ndarray]]:
    present = fov.column_names()
    cubes = {attr: _points_first(path, col, np.asarray(_column(path, fov, col),
                                                        dtype=np.float32))
             for attr, col in GEOMETRY_COLUMNS.items()
             if col in present or col not in OPTIONAL_GEOMETRY}
    for attr, col in GEOMETRY_COLUMNS.items():
        if attr not in cubes:
            notes.append(f"FOV_GEOM has no {col} column; {attr} set to NaN")
            cubes[attr] = np.full_like(cubes["lat_deg"], np.nan)
    shapes = {cube.shape for cube in cubes.values()}
    if len(shapes) != 1:
        raise ObservationError("shape_mismatch", f"{path.name}: FOV_GEOM columns disagree "
                               f"on shape ({sorted(shapes)}).")
    nint, _, npix = shapes.pop()
    if max(nint, npix) > MAX_SCAN_SIDE:
        raise ObservationError("too_large", f"{path.name}: a scan of {nint} integrations x {npix} "
                               f"slit pixels is beyond the {MAX_SCAN_SIDE} per side this reader "
                               "accepts (EMUS swaths have a few hundred); refused.")
    centre = _centre_point(cubes["lat_deg"], cubes["lon_deg"])
    corner_index = [i for i in range(FOV_POINTS) if i != centre]
    for attr, cube in list(cubes.items()):
        infinite = np.isinf(cube)
        if infinite.any():
            notes.append(f"{int(infinite.sum())} FOV_GEOM {GEOMETRY_COLUMNS[attr]} values are "
                         "infinite; set to NaN")
            cubes[attr] = np.where(infinite, np.float32(np.nan), cube)
    geometry = {attr: np.ascontiguousarray(cube[:, centre, :]) for attr, cube in cubes.items()}
    corners = {attr: np.ascontiguousarray(np.moveaxis(cubes[attr][:, corner_index, :], 1, 0))
               for attr in ("lat_deg", "lon_deg")}
    return geometry, centre, corners


def _points_first(path: Path, column: str, cube: np.ndarray) -> np.ndarray:
    """Return ``(nint, 5, npix)`` whichever way the file stored the 5 points."""
    if cube.ndim == 3 and cube.shape[1] == FOV_POINTS:
        return cube
    if cube.ndim == 3 and cube.shape[2] == FOV_POINTS:
        return np.moveaxis(cube, 2, 1)
    raise ObservationError("shape_mismatch", f"{path.name}: FOV_GEOM {column} has shape "
                           f"{cube.shape}; expected (nint, 5, npix).")


def _centre_point(lat: np.ndarray, lon: np.ndarray) -> int:
    """Index (0 or 4) of the pixel-centre point among the 5 FOV points.

    Decided on at most :data:`CENTRE_SAMPLE_ROWS` evenly spaced integrations,
    on-disk pixels only: the answer is one per file, and the median misfit
    settles it long before every pixel is counted (and trigonometry on the
    NaN sky is slow).
    """
    step = max(1, lat.shape[0] // CENTRE_SAMPLE_ROWS)
    lat, lon = lat[::step], lon[::step]
    complete = np.all(np.isfinite(lat) & np.isfinite(lon), axis=1)
    if not complete.any():
        return 0
    lat_r = np.radians(np.moveaxis(lat, 1, 0)[:, complete], dtype=np.float64)
    lon_r = np.radians(np.moveaxis(lon, 1, 0)[:, complete], dtype=np.float64)
    vectors = np.stack([np.cos(lat_r) * np.cos(lon_r), np.cos(lat_r) * np.sin(lon_r),
                        np.sin(lat_r)], axis=-1)
    misfit = {}
    for candidate in (0, FOV_POINTS - 1):
        others = vectors[[i for i in range(FOV_POINTS) if i != candidate]].mean(axis=0)
        misfit[candidate] = float(np.median(np.linalg.norm(others - vectors[candidate], axis=-1)))
    return min(misfit, key=lambda k: (misfit[k], k))


def _read_oi_1304(path: Path, emiss: "Table | AstropyTable", nint: int, npix: int,
                  sza_deg: np.ndarray, notes: list[str]) -> tuple[np.ndarray, np.ndarray, str]:
    names = [_text(name) for name in _column(path, emiss, "NAME")]
    row = _find_row(path, names)
    radiance = np.asarray(_column(path, emiss, "RADIANCE")[row], dtype=np.float32)
    scale = _rayleigh_scale(emiss, notes)
    try:
        error = np.asarray(_column(path, emiss, "RAD_ERR_RAND")[row], dtype=np.float32)
    except ObservationError:
        notes.append("EMISS has no RAD_ERR_RAND column; random errors set to NaN")
        error = np.full_like(radiance, np.nan)
    if error.shape != radiance.shape:
        raise ObservationError("shape_mismatch", f"{path.name}: RAD_ERR_RAND {error.shape} "
                               f"and RADIANCE {radiance.shape} differ for {OI_1304_ROW!r}.")
    transpose, axes = _radiance_axes(path, radiance, nint, npix, sza_deg, notes)
    if transpose:
        radiance, error = radiance.T, error.T
    return (_finite_float32(radiance, scale, "RADIANCE", notes),
            _finite_float32(error, scale, "RAD_ERR_RAND", notes), axes)


def _finite_float32(values: np.ndarray, scale: float, what: str, notes: list[str]) -> np.ndarray:
    """``values * scale`` as float32, with every infinite or out-of-range value set to NaN.

    Scaled in float64 first, so a kR value near float32's limit overflows
    here, visibly, and not into an infinity that later steps would trust.
    """
    scaled = np.asarray(values, dtype=np.float64) * scale
    with np.errstate(over="ignore", invalid="ignore"):
        converted = scaled.astype(np.float32)
    infinite = np.isinf(converted)
    if infinite.any():
        notes.append(f"{int(infinite.sum())} {what} values are infinite or beyond float32 "
                     "(in rayleigh); set to NaN")
        converted[infinite] = np.nan
    return np.ascontiguousarray(converted)


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("ascii", errors="replace")
    return " ".join(str(value).split())


def _find_row(path: Path, names: list[str]) -> int:
    """Index of the one EMISS row that is the O I 130.4 nm triplet.

    Only names that mean the triplet are accepted: the exact name, compared
    without case and spacing (``OI 130.4 Triplet`` too), or with the unit
    written in (``O I 130.4 nm triplet``). The EMUS team's own routines select
    rows by exact name, and the real list holds other 130.4 names that are
    not the triplet (``CO 4PG O I 1304``, a continuum background), so a name
    that merely starts with "O I 130.4" is refused, listing what the file has.
    """
    matches = [i for i, name in enumerate(names) if _row_key(name) in _TRIPLET_KEYS]
    if len(matches) == 1:
        return matches[0]
    listed = ", ".join(repr(name[:MAX_LISTED_NAME]) for name in names[:MAX_LISTED_ROWS])
    more = f" and {len(names) - MAX_LISTED_ROWS} more" if len(names) > MAX_LISTED_ROWS else ""
    if matches:
        raise ObservationError(
            "missing_emission", f"{path.name}: EMISS has {len(matches)} rows named "
            f"{OI_1304_ROW!r} (rows {', '.join(str(i) for i in matches)}), so which one holds "
            f"the brightness is not clear; expected exactly one. Rows: {listed}{more}.")
    raise ObservationError(
        "missing_emission", f"{path.name}: EMISS has no {OI_1304_ROW!r} row ({len(names)} "
        f"rows: {listed}{more}); the reader accepts that name only, in any case and spacing.")


def _row_key(name: str) -> str:
    """An emission name compared without case or spaces."""
    return "".join(name.lower().split())


_TRIPLET_KEYS = frozenset({_row_key(OI_1304_ROW), _row_key("O I 130.4 nm triplet")})
MAX_LISTED_ROWS = 40
MAX_LISTED_NAME = 40


def _rayleigh_scale(emiss: "Table | AstropyTable", notes: list[str]) -> float:
    unit = emiss.unit("RADIANCE").strip().lower()
    if unit in ("kr", "kilorayleigh", "kilorayleighs"):
        return 1000.0
    if unit not in ("", "r", "rayleigh", "rayleighs"):
        notes.append(f"EMISS RADIANCE unit {unit!r} not recognised; read as rayleigh")
    return 1.0


def _radiance_axes(path: Path, radiance: np.ndarray, nint: int, npix: int,
                   sza_deg: np.ndarray, notes: list[str]) -> tuple[bool, str]:
    """Decide whether the 130.4 row is ``(nint, npix)`` or ``(npix, nint)``."""
    if radiance.shape == (nint, npix) and nint != npix:
        return False, "nint,npix"
    if radiance.shape == (npix, nint) and nint != npix:
        return True, "npix,nint"
    if radiance.shape == (nint, npix):
        as_is = _day_correlation(radiance, sza_deg)
        flipped = _day_correlation(radiance.T, sza_deg)
        notes.append(f"square scan ({nint} x {npix}): axis order chosen by correlation "
                     f"with cos(SZA) ({as_is:.2f} as stored, {flipped:.2f} transposed)")
        return (True, "npix,nint") if flipped > as_is else (False, "nint,npix")
    raise ObservationError("shape_mismatch", f"{path.name}: {OI_1304_ROW!r} brightness has "
                           f"shape {radiance.shape} but FOV_GEOM describes {nint} integrations "
                           f"x {npix} slit pixels.")


def _day_correlation(radiance: np.ndarray, sza_deg: np.ndarray) -> float:
    sunlit = np.cos(np.radians(np.clip(sza_deg, 0.0, 90.0)))
    ok = np.isfinite(radiance) & np.isfinite(sunlit)
    if ok.sum() < 3 or np.std(radiance[ok]) == 0 or np.std(sunlit[ok]) == 0:
        return 0.0
    return float(np.corrcoef(radiance[ok], sunlit[ok])[0, 1])


def _read_times(table: "Table | AstropyTable | None", nint: int) -> tuple[str, ...]:
    """Each integration's UTC, or none when the TIME table does not describe this scan.

    The row count is checked before any row is decoded: a table claiming
    millions of rows costs nothing.
    """
    if table is None or table.rows != nint or "TIME_UTC" not in table.column_names():
        return ()
    try:
        return tuple(_text(v) for v in table.column("TIME_UTC"))
    except (TypeError, ValueError):
        return ()


def _read_altitudes(table: "Table | AstropyTable | None", nint: int) -> np.ndarray:
    """Spacecraft altitude per integration, or an empty array when SC_GEOM does not say."""
    if table is None or table.rows != nint or "SC_ALT" not in table.column_names():
        return np.zeros(0, np.float32)
    try:
        altitudes = np.asarray(table.column("SC_ALT"), dtype=np.float32).reshape(nint, -1)[:, 0]
    except (TypeError, ValueError):
        return np.zeros(0, np.float32)
    return np.where(np.isfinite(altitudes), altitudes, np.float32(np.nan))


def _try_parse_filename(name: str, notes: list[str]) -> EmusFileName | None:
    try:
        return parse_filename(name)
    except ValueError as exc:
        notes.append(str(exc))
        return None


def _check_content(observation: Observation) -> None:
    disk = observation.on_disk
    if not disk.any():
        raise ObservationError("no_disk", f"{observation.name}: no pixel of the scan falls "
                               "on Mars (a corona or Sun-line observation?).")
    if not np.isfinite(observation.brightness_r[disk]).any():
        raise ObservationError("no_valid_data", f"{observation.name}: every {OI_1304_ROW!r} "
                               "brightness on the disk is NaN or not finite.")
