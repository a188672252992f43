"""EMUS L2B scans from a second generator, written only from the format page.

Every figure of docs/screens.md comes from scans of ``aurora synth``, whose habits the screen
and the detector were built on. This generator shares none of its code: it follows
``shared/docs/emus-l2b-format.md`` and public physics alone, with choices of its own. The
spacecraft looks at a sphere along rays of a slit swept across the disk at 0.06-0.1 deg an
integration (so the disk is an ellipse, and often clipped); each pixel's brightness is the mean
of 3 x 3 rays over its footprint; the dayside is a cosine law to the power 0.7 with an
exponential tail past the terminator; the night glow (0.02-1 R) brightens by the secant of the
emission angle to the power 0.8, capped at 3-8, with a north-south gradient; auroras are spots
(60-500 km), arcs and sinuous arcs (30-180 km wide, 400-3,000 km long, brightness rippled along
them) and clusters of 2-5 patches, 2-60 R at the zenith, brightened by the secant up to 5,
anywhere past SZA 100 deg at emission angles up to 82 deg. Files follow the page's variants:
RADIANCE in IDL's order or not, the centre at FOV_GEOM point 0 or 4, 128 or 192 slit pixels,
detector pixel 0 holding junk, 29 EMISS rows among them ``O I 130.4 continuum background`` and
``CO 4PG O I 1304``, and 0-3 hot pixels.

``--ranges hard`` draws narrower and fainter auroras (spots and patches of 40-120 km, arcs
15-60 km wide and 300-4,000 km long, 1-20 R) over a brighter night (0.3-1.5 R).

The truth file has the fields ``scripts/evaluate.py`` reads; an aurora's position is its
brightness-weighted centroid on the visible disk (what a catalogue can report of an arc
partly hidden); its extent, as in the project's own truth files, is the pixels it adds
:data:`EXTENT_MIN_R` and a fifth of its brightest to (``pixel_extent`` their bounding rows and
columns), its ``snr`` its counts there over the Poisson noise of every count there. Usage::

    python scripts/cleanroom_scans.py OUT --n 100 --seed 18001 [--gain 0.7:3] [--ranges hard]
    aurora run OUT --out RUN && python scripts/evaluate.py OUT/truth.jsonl RUN/observations.jsonl
"""

import argparse
import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
from astropy.io import fits

from marsaurora.cli import gain_range

RADIUS_KM = 3396.2
SLIT_DEG = 10.75
SUBSAMPLES = 3
"""Rays per pixel along each axis: a pixel sees the mean over its footprint."""
EXTENT_MIN_R = 0.5
EXTENT_PEAK_FRACTION = 0.2
"""An aurora's extent: the pixels it adds at least this much to (R, and fraction of its
brightest pixel); the meaning ``scripts/evaluate.py`` gives ``pixel_extent`` and ``snr``."""
SCENARIOS = ("aurora",) * 5 + ("quiet_night",) * 3 + ("crescent", "dayside")
TRIPLET = "O I 130.4 triplet"
OTHER_ROWS = ("H I 121.6 singlet", "O I 135.6 doublet", "CO 4PG O I 1304",
              "H I 102.6 singlet / O I 102.7 multiplet", "O I 130.4 continuum background",
              "C I 156.1 multiplet", "C I 165.7 multiplet", "CO 4PG", "N I 120.0 triplet",
              "C II 133.5 doublet", "O I 98.9 multiplet", "N I 149.3 doublet", "CO+ 1NG",
              "O II 83.4 triplet", "Ar I 104.8 doublet")
J2000 = datetime(2000, 1, 1, 12, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Ranges:
    """What the scenes are drawn from (km, R)."""

    spot_fwhm_km: tuple[float, float] = (60.0, 500.0)
    patch_fwhm_km: tuple[float, float] = (60.0, 300.0)
    arc_width_km: tuple[float, float] = (30.0, 180.0)
    arc_length_km: tuple[float, float] = (400.0, 3000.0)
    peak_r: tuple[float, float] = (2.0, 60.0)
    """Zenith peak, drawn log-uniformly."""
    night_log10_r: tuple[float, float] = (-1.7, 0.0)
    """Night glow at the zenith, log10 of R, drawn uniformly (0.02-1 R)."""


RANGES = {"default": Ranges(),
          "hard": Ranges(spot_fwhm_km=(40.0, 120.0), patch_fwhm_km=(40.0, 120.0),
                         arc_width_km=(15.0, 60.0), arc_length_km=(300.0, 4000.0),
                         peak_r=(1.0, 20.0), night_log10_r=(-0.52, 0.18))}
"""``hard``: narrower and fainter auroras over a brighter night, to meet ``aurora synth
--ranges ood`` where it is hardest."""


def unit(lat_deg: float, lon_deg: float) -> np.ndarray:
    """Unit vector of a planetocentric latitude and east longitude."""
    lat, lon = np.radians(lat_deg), np.radians(lon_deg)
    return np.array([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])


def angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle between unit vectors along the last axis."""
    return np.degrees(np.arccos(np.clip(np.sum(a * b, axis=-1), -1.0, 1.0)))


@dataclass
class View:
    """Where the spacecraft is, where the Sun is, and how the slit sweeps."""

    spacecraft: np.ndarray
    sun: np.ndarray
    sub_sc: tuple[float, float]
    sub_solar: tuple[float, float]
    across: np.ndarray
    along: np.ndarray
    nint: int
    npix: int
    step_deg: float
    offset_deg: tuple[float, float]

    def rays(self, di: np.ndarray, dj: np.ndarray) -> np.ndarray:
        """Unit look directions at fractional (integration, slit pixel) positions."""
        x = np.radians(self.offset_deg[0] + (di - self.nint / 2) * self.step_deg)
        y = np.radians(self.offset_deg[1] + (dj - self.npix / 2) * SLIT_DEG / self.npix)
        nadir = -self.spacecraft / np.linalg.norm(self.spacecraft)
        look = nadir + np.tan(x)[..., None] * self.across + np.tan(y)[..., None] * self.along
        return look / np.linalg.norm(look, axis=-1, keepdims=True)


def draw_view(rng: np.random.Generator, scenario: str) -> View:
    """A spacecraft 24,000-44,000 km out, the Sun placed for the scenario, a rolled slit."""
    distance = rng.uniform(24000.0, 44000.0)
    sub_sc = (rng.uniform(-25.0, 25.0), rng.uniform(0.0, 360.0))
    away = {"dayside": rng.uniform(-40.0, 40.0),
            "crescent": rng.choice([-1, 1]) * rng.uniform(95.0, 130.0)}.get(
        scenario, rng.choice([-1, 1]) * rng.uniform(120.0, 180.0))
    sub_solar = (rng.uniform(-25.0, 25.0), (sub_sc[1] + away) % 360.0)
    spacecraft = unit(*sub_sc) * distance
    nadir = -spacecraft / distance
    across = np.cross([0.0, 0.0, 1.0], nadir)
    across /= np.linalg.norm(across)
    along = np.cross(nadir, across)
    roll = rng.uniform(0.0, 2 * np.pi)
    across, along = (np.cos(roll) * across + np.sin(roll) * along,
                     -np.sin(roll) * across + np.cos(roll) * along)
    disk_deg = np.degrees(np.arcsin(RADIUS_KM / distance))
    step = rng.uniform(0.06, 0.1)
    nint = int(min(260, 2 * (disk_deg + rng.uniform(0.3, 1.5)) / step))
    return View(spacecraft, unit(*sub_solar), sub_sc, sub_solar, across, along, nint,
                128 if rng.random() < 0.7 else 192, step,
                (rng.uniform(-1.0, 1.0), rng.uniform(-2.0, 2.0)))


@dataclass
class Points:
    """What each ray sees: the surface normal where it meets Mars (NaN off the disk) and the
    angles the format page lists."""

    hit: np.ndarray
    normal: np.ndarray
    columns: dict[str, np.ndarray]


def look(view: View, di: np.ndarray, dj: np.ndarray) -> Points:
    """Rays at (di, dj) intersected with the sphere."""
    rays = view.rays(di, dj)
    reach = np.sum(view.spacecraft * rays, axis=-1)
    discriminant = reach ** 2 - (view.spacecraft @ view.spacecraft - RADIUS_KM ** 2)
    hit = discriminant >= 0
    distance = -reach - np.sqrt(np.where(hit, discriminant, 0.0))
    normal = (view.spacecraft + distance[..., None] * rays) / RADIUS_KM
    to_sc = view.spacecraft - normal * RADIUS_KM
    to_sc /= np.linalg.norm(to_sc, axis=-1, keepdims=True)
    lat = np.degrees(np.arcsin(np.clip(normal[..., 2], -1.0, 1.0)))
    lon = np.degrees(np.arctan2(normal[..., 1], normal[..., 0])) % 360.0
    miss = np.linalg.norm(np.cross(view.spacecraft, rays), axis=-1) - RADIUS_KM

    def on(values: np.ndarray) -> np.ndarray:
        return np.where(hit, values, np.nan)

    columns = {"LAT": on(lat), "LON": on(lon),
               "RA": np.degrees(np.arctan2(rays[..., 1], rays[..., 0])) % 360.0,
               "DEC": np.degrees(np.arcsin(np.clip(rays[..., 2], -1.0, 1.0))),
               "MRH_ALT": np.where(hit, 0.0, miss),
               "SOLAR_Z_ANGLE": on(angle_deg(normal, view.sun)),
               "EMISSION_ANGLE": on(angle_deg(normal, to_sc)),
               "PHASE_ANGLE": on(angle_deg(view.sun[None, None], to_sc)),
               "LOCAL_TIME": on((lon - view.sub_solar[1]) / 15.0 + 12.0) % 24.0}
    return Points(hit, normal, columns)


def footprint_grid(view: View) -> tuple[np.ndarray, np.ndarray]:
    """Fractional positions of the 3 x 3 rays of every pixel, shape (nint*3, npix*3)."""
    offsets = (np.arange(SUBSAMPLES) + 0.5) / SUBSAMPLES - 0.5
    rows = (np.arange(view.nint)[:, None] + offsets).ravel()
    cols = (np.arange(view.npix)[:, None] + offsets).ravel()
    return np.meshgrid(rows, cols, indexing="ij")


def pixel_mean(fine: np.ndarray) -> np.ndarray:
    """Mean over each pixel's rays."""
    rows, cols = fine.shape[0] // SUBSAMPLES, fine.shape[1] // SUBSAMPLES
    return fine.reshape(rows, SUBSAMPLES, cols, SUBSAMPLES).mean(axis=(1, 3))


def glow(rng: np.random.Generator, points: Points, ranges: Ranges) -> np.ndarray:
    """Dayglow, its tail past the terminator and the night glow, zero off the disk."""
    sza = np.nan_to_num(points.columns["SOLAR_Z_ANGLE"], nan=180.0)
    secant = 1.0 / np.maximum(np.cos(np.radians(
        np.nan_to_num(points.columns["EMISSION_ANGLE"], nan=90.0))), 1e-3)
    dayside = rng.uniform(80.0, 450.0)
    day = np.where(sza < 90.0, dayside * np.clip(np.cos(np.radians(sza)), 0, 1) ** 0.7, 0.0)
    tail = 0.02 * dayside * np.exp(-np.maximum(sza - 90.0, 0.0) / rng.uniform(1.5, 6.0))
    night = 10 ** rng.uniform(*ranges.night_log10_r)
    night *= 1.0 + rng.uniform(-0.3, 0.3) * points.normal[..., 2]
    slant = np.minimum(secant, rng.uniform(3.0, 8.0)) ** 0.8
    return np.where(points.hit, (day + tail + night) * slant, 0.0)


def _tangent(rng: np.random.Generator, centre: np.ndarray) -> np.ndarray:
    """A random unit vector tangent to the sphere at ``centre``."""
    direction = rng.standard_normal(3)
    direction -= direction @ centre * centre
    return direction / np.linalg.norm(direction)


def _gaussian(distance_km: np.ndarray, fwhm_km: float) -> np.ndarray:
    return np.exp(-4.0 * np.log(2.0) * (distance_km / fwhm_km) ** 2)


def aurora_shape(rng: np.random.Generator, normal: np.ndarray, centre: np.ndarray,
                 ranges: Ranges) -> tuple[str, str, np.ndarray, float]:
    """(type, form, profile peaking near 1, size in km) of one aurora around ``centre``."""
    form = str(rng.choice(["spot", "arc", "sinuous", "cluster"]))
    to_centre_km = np.arccos(np.clip(normal @ centre, -1.0, 1.0)) * RADIUS_KM
    if form == "spot":
        fwhm = rng.uniform(*ranges.spot_fwhm_km)
        return "spot", form, _gaussian(to_centre_km, fwhm), fwhm
    if form == "cluster":
        profile, size = np.zeros(normal.shape[:-1]), 0.0
        for _ in range(rng.integers(2, 6)):
            shift_km, fwhm = rng.uniform(0.0, 500.0), rng.uniform(*ranges.patch_fwhm_km)
            patch = (centre * np.cos(shift_km / RADIUS_KM)
                     + _tangent(rng, centre) * np.sin(shift_km / RADIUS_KM))
            to_patch_km = np.arccos(np.clip(normal @ patch, -1.0, 1.0)) * RADIUS_KM
            profile = np.maximum(profile, rng.uniform(0.4, 1.0) * _gaussian(to_patch_km, fwhm))
            size = max(size, 2 * shift_km + fwhm)
        return "patchy", form, profile, size
    heading = _tangent(rng, centre)
    pole = np.cross(centre, heading)
    length, width = rng.uniform(*ranges.arc_length_km), rng.uniform(*ranges.arc_width_km)
    along = np.arctan2(normal @ heading, normal @ centre) * RADIUS_KM
    across = np.arcsin(np.clip(normal @ pole, -1.0, 1.0)) * RADIUS_KM
    if form == "sinuous":
        across = across - rng.uniform(40.0, 250.0) * np.sin(
            2 * np.pi * along / rng.uniform(300.0, 1200.0))
    overhang = np.maximum(np.abs(along) - length / 2, 0.0) / width
    ends = np.clip(1.0 - overhang ** 2, 0.0, 1.0)
    ripple = 0.7 + 0.3 * np.cos(along / rng.uniform(100.0, 400.0))
    return "arc", form, _gaussian(across, width) * ends * ripple, length


@dataclass
class Scan:
    """One drawn observation: brightness, errors, geometry and its truth."""

    view: View
    corners: list[Points]
    brightness: np.ndarray
    error: np.ndarray
    truth: dict


def draw_scan(rng: np.random.Generator, scenario: str, gain: tuple[float, float],
              ranges: Ranges = Ranges()) -> Scan | None:
    """One scan of ``scenario``; None when an aurora scan leaves no night to put one on."""
    view = draw_view(rng, scenario)
    rows, cols = np.meshgrid(np.arange(view.nint, dtype=float),
                             np.arange(view.npix, dtype=float), indexing="ij")
    corners = [look(view, rows + di, cols + dj)
               for di, dj in ((0, 0), (-.5, -.5), (.5, -.5), (.5, .5), (-.5, .5))]
    fine = look(view, *footprint_grid(view))
    background = pixel_mean(glow(rng, fine, ranges))
    sza = corners[0].columns["SOLAR_Z_ANGLE"]
    emission = corners[0].columns["EMISSION_ANGLE"]
    auroras: list[dict] = []
    added: list[np.ndarray] = []
    extents: list[np.ndarray] = []
    if scenario == "aurora":
        auroras, added, extents = _auroras(rng, fine, corners[0], ranges)
        if not auroras:
            return None
    counts_per_r = 10 ** rng.uniform(*np.log10(gain))
    expected = background + sum(added, np.zeros_like(background))
    counts = rng.poisson(expected * counts_per_r).astype(float)
    brightness = counts / counts_per_r
    error = np.sqrt(np.maximum(counts, 1.0)) / counts_per_r
    for aurora, own, extent in zip(auroras, added, extents, strict=True):
        aurora["snr"] = round(float(own[extent].sum()
                                    / np.sqrt(expected[extent].sum() / counts_per_r)), 1)
    for _ in range(rng.integers(0, 4)):
        brightness[rng.integers(view.nint), rng.integers(1, view.npix)] += rng.uniform(20, 300)
    brightness[:, 0] = rng.uniform(0.0, 5.0, view.nint)
    truth = {"scenario": scenario, "has_aurora": bool(auroras), "auroras": auroras,
             "gain_counts_per_r": round(counts_per_r, 3), "nint": view.nint,
             "npix": view.npix, "sc_distance_km": round(float(np.linalg.norm(view.spacecraft)), 1),
             "night_sza_fraction": round(float(np.mean(np.nan_to_num(sza) > 100)), 3),
             "max_emission_deg": round(float(np.nanmax(emission)), 1)}
    return Scan(view, corners, brightness.astype(np.float32), error.astype(np.float32), truth)


def _auroras(rng: np.random.Generator, fine: Points, centres: Points, ranges: Ranges
             ) -> tuple[list[dict], list[np.ndarray], list[np.ndarray]]:
    """1-3 auroras apart from one another (no pixel at a tenth of one's brightest within 4
    pixels along a row or column of another's), each as truth, as its brightness per pixel and
    as its extent."""
    sza = np.nan_to_num(centres.columns["SOLAR_Z_ANGLE"], nan=0.0)
    emission = np.nan_to_num(centres.columns["EMISSION_ANGLE"], nan=90.0)
    eligible = centres.hit & (sza > 100.0) & (emission < 82.0)
    if not eligible.any():
        return [], [], []
    night = fine.hit & (np.nan_to_num(fine.columns["SOLAR_Z_ANGLE"], nan=0.0) > 95.0)
    secant = 1.0 / np.maximum(np.cos(np.radians(
        np.nan_to_num(fine.columns["EMISSION_ANGLE"], nan=90.0))), 0.2)
    taken = np.zeros(eligible.shape, dtype=bool)
    auroras, added, extents = [], [], []
    for _ in range(int(rng.choice([1, 1, 1, 2, 3]))):
        centre = centres.normal[np.unravel_index(
            rng.choice(np.flatnonzero(eligible)), eligible.shape)]
        kind, form, profile, size = aurora_shape(rng, fine.normal, centre, ranges)
        peak = 10 ** rng.uniform(*np.log10(ranges.peak_r))
        fine_added = np.where(night, peak * profile * secant, 0.0)
        own = pixel_mean(fine_added)
        lit = own >= 0.1 * own.max() if own.max() > 0.05 else None
        if lit is None or (taken & _grown(lit, 4)).any():
            continue
        taken |= lit
        weights = fine_added[..., None] * fine.normal
        centroid = np.nansum(weights.reshape(-1, 3), axis=0)
        centroid /= np.linalg.norm(centroid)
        where = np.unravel_index(np.argmax(own), own.shape)
        extent = own >= max(EXTENT_MIN_R, EXTENT_PEAK_FRACTION * own.max())
        if not extent.any():
            extent = lit
        rows, cols = np.nonzero(extent)
        auroras.append({
            "type": kind, "form": form,
            "lat_deg": round(float(np.degrees(np.arcsin(centroid[2]))), 3),
            "lon_deg": round(float(np.degrees(np.arctan2(centroid[1], centroid[0])) % 360), 3),
            "peak_r": round(float(peak), 3), "pixel_peak_r": round(float(own.max()), 3),
            "size_km": round(float(size), 1),
            "pixel_extent": [int(rows.min()), int(rows.max()), int(cols.min()), int(cols.max())],
            "peak_pixel": [int(where[0]), int(where[1])],
            "emission_deg": round(float(emission[where]), 2),
            "sza_deg": round(float(sza[where]), 2)})
        added.append(own)
        extents.append(extent)
    return auroras, added, extents


def _grown(mask: np.ndarray, pixels: int) -> np.ndarray:
    """``mask`` grown by ``pixels`` along rows and along columns (a cross, not a square; the
    shifts wrap at the edges, which only keeps auroras further apart)."""
    grown = mask.copy()
    for axis in (0, 1):
        for shift in range(1, pixels + 1):
            grown |= np.roll(mask, shift, axis) | np.roll(mask, -shift, axis)
    return grown


def write_scan(scan: Scan, path: Path, start: datetime, rng: np.random.Generator) -> dict:
    """The scan as an L2B file with the HDUs of the format page; returns the variants drawn."""
    centre_point = 0 if rng.random() < 0.7 else 4
    times = [start + timedelta(seconds=6.0 * k) for k in range(scan.view.nint)]
    primary = _primary(times, rng)
    idl_order = bool(rng.random() < 0.5)
    fits.HDUList([primary, _time(times), _sc_geom(scan.view), _fov_geom(scan, centre_point),
                  *_spectra(scan), _emiss(scan, idl_order, rng)]).writeto(path, overwrite=True)
    return {"centre_point": centre_point,
            "radiance_axes": "npix,nint" if idl_order else "nint,npix"}


def _primary(times: list[datetime], rng: np.random.Generator) -> fits.PrimaryHDU:
    primary = fits.PrimaryHDU()
    for key, value in (("DATE", datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")),
                       ("OBS_UTC", times[0].strftime("%Y-%m-%dT%H:%M:%S.000")),
                       ("END_UTC", times[-1].strftime("%Y-%m-%dT%H:%M:%S.000")),
                       ("MARSYEAR", 37), ("SOL_LONG", round(float(rng.uniform(0, 360)), 2)),
                       ("QLTY_FLG", 0), ("IMG_RCV", 1)):
        primary.header[key] = value
    return primary


def _time(times: list[datetime]) -> fits.BinTableHDU:
    utc = np.array([t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}"
                    for t in times])
    return fits.BinTableHDU.from_columns([
        fits.Column("TIME_ET", "D", array=[(t - J2000).total_seconds() + 69.184 for t in times]),
        fits.Column("TIME_UTC", "23A", array=utc)], name="TIME")


def _sc_geom(view: View) -> fits.BinTableHDU:
    """One row per integration; the spacecraft does not move during a synthetic scan."""
    def each(value: float) -> np.ndarray:
        return np.full(view.nint, value, dtype=np.float32)

    vector = np.zeros((view.nint, 3), np.float32)
    return fits.BinTableHDU.from_columns([
        fits.Column("SC_ALT", "E", array=each(np.linalg.norm(view.spacecraft) - RADIUS_KM)),
        fits.Column("SUB_SC_LON", "E", array=each(view.sub_sc[1])),
        fits.Column("SUB_SC_LAT", "E", array=each(view.sub_sc[0])),
        fits.Column("SUB_SOLAR_LON", "E", array=each(view.sub_solar[1])),
        fits.Column("SUB_SOLAR_LAT", "E", array=each(view.sub_solar[0])),
        fits.Column("V_SC_POS_MSO", "3E", array=vector),
        fits.Column("V_SUN_POS_MME", "3E", array=vector),
        fits.Column("V_SUN_POS_MARS", "3E", array=vector)], name="SC_GEOM")


def _fov_geom(scan: Scan, centre_point: int) -> fits.BinTableHDU:
    """The five points of each pixel, the centre first (0) or last (4)."""
    order = (0, 1, 2, 3, 4) if centre_point == 0 else (1, 2, 3, 4, 0)
    npix = scan.view.npix
    columns = [fits.Column(name, f"{5 * npix}E", dim=f"({npix},5)", array=np.stack(
        [scan.corners[k].columns[name] for k in order], axis=1).astype(np.float32))
        for name in scan.corners[0].columns]
    normals = np.stack([scan.corners[k].normal for k in order], axis=1)
    columns.append(fits.Column("VEC_MARS", f"{15 * npix}E", dim=f"({npix},5,3)",
                               array=np.moveaxis(normals, -1, 1).astype(np.float32)))
    return fits.BinTableHDU.from_columns(columns, name="FOV_GEOM")


def _spectra(scan: Scan) -> tuple[fits.BinTableHDU, fits.BinTableHDU]:
    """WAVELENGTH and a small CAL: present as in real files, not read by the pipeline."""
    nint, npix, nwave = scan.view.nint, scan.view.npix, 8
    wavelength = fits.BinTableHDU.from_columns([fits.Column(
        "WAVELENGTH_L2A", f"{npix * nwave}E", dim=f"({nwave},{npix})",
        array=np.tile(np.linspace(100, 170, nwave, dtype=np.float32), (1, npix, 1)))],
        name="WAVELENGTH")
    spectra = np.repeat(scan.brightness[None, :, :, None] / 10.0, nwave, axis=3)
    cal = fits.BinTableHDU.from_columns([
        fits.Column(name, f"{spectra[0].size}E", dim=f"({nwave},{npix},{nint})", array=values)
        for name, values in (("RADIANCE", spectra), ("RAD_ERR_RAND", spectra * 0.1))],
        name="CAL")
    return wavelength, cal


def _emiss(scan: Scan, idl_order: bool, rng: np.random.Generator) -> fits.BinTableHDU:
    """29 rows in a random order, the triplet's brightness in IDL's order or not."""
    nint, npix = scan.view.nint, scan.view.npix
    names = [TRIPLET, *OTHER_ROWS] + [f"feature {k}" for k in range(29 - 1 - len(OTHER_ROWS))]
    names = list(rng.permutation(names))

    def row(triplet: np.ndarray, other: float) -> np.ndarray:
        values = np.stack([triplet if name == TRIPLET else np.full((nint, npix), other, np.float32)
                           for name in names])
        return np.swapaxes(values, 1, 2) if idl_order else values

    radiance, errors = row(scan.brightness, 0.3), row(scan.error, 0.1)
    dim = f"({nint},{npix})" if idl_order else f"({npix},{nint})"
    pairs = np.zeros((len(names), 2), np.float32)
    return fits.BinTableHDU.from_columns([
        fits.Column("NAME", "48A", array=np.array(names)),
        fits.Column("WL_START", "2E", array=pairs), fits.Column("WL_STOP", "2E", array=pairs),
        fits.Column("DOF", "2E", array=pairs + 1),
        fits.Column("RADIANCE", f"{nint * npix}E", dim=dim, array=radiance),
        fits.Column("RAD_ERR_RAND", f"{nint * npix}E", dim=dim, array=errors),
        fits.Column("RAD_ERR_SYS", f"{nint * npix}E", dim=dim, array=errors * 0.1),
        fits.Column("GOODNESS_OF_FIT", f"{nint * npix}E", dim=dim, array=np.ones_like(radiance)),
        fits.Column("QLTY_FLG", "J", array=np.zeros(len(names), np.int32))], name="EMISS")


def generate(out: Path, n: int, seed: int, gain: tuple[float, float],
             ranges: str = "default") -> list[dict]:
    """``n`` scans of the scenario mix into ``out``, with ``truth.jsonl``; returns the truth."""
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    start = datetime(2025, 3, 1, tzinfo=timezone.utc)
    lines: list[dict] = []
    while len(lines) < n:
        scan = draw_scan(rng, str(rng.choice(SCENARIOS)), gain, RANGES[ranges])
        if scan is None:
            continue
        start += timedelta(hours=float(rng.uniform(2.0, 9.0)))
        mode = str(rng.choice(["os2", "osr", "osp"]))
        swath = "sw1of3" if mode == "os2" else "sw1of1"
        name = (f"emm_emu_l2b_{start:%Y%m%dt%H%M%S}_{3000 + len(lines):04d}_{mode}_{swath}"
                "_r_v01-04.fits.gz")
        variants = write_scan(scan, out / name, start, rng)
        lines.append({"file": name, **scan.truth, **variants, "generator": "cleanroom",
                      "seed": seed, "ranges": ranges})
    (out / "truth.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--seed", type=int, default=18001)
    parser.add_argument("--gain", type=gain_range, default=(1.0, 20.0),
                        help="counts per rayleigh, LOW:HIGH, drawn log-uniformly (1:20)")
    parser.add_argument("--ranges", choices=sorted(RANGES), default="default",
                        help="scene ranges: default, or hard (narrower, fainter auroras over "
                             "a brighter night)")
    args = parser.parse_args()
    lines = generate(args.out, args.n, args.seed, args.gain, args.ranges)
    auroras = sum(line["has_aurora"] for line in lines)
    print(f"wrote {len(lines)} scans ({auroras} with auroras) and truth.jsonl to {args.out}")


if __name__ == "__main__":
    main()
