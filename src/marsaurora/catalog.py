"""Where on Mars each detected aurora is: boxes mapped back through the scan's geometry.

A detection is a box on the heatmap. The heatmap keeps, for every pixel, the
detector pixel (integration, slit pixel) it shows, so a box selects a set of
real measurements with their latitude, longitude, angles and brightness. The
aurora's position is the excess-brightness-weighted centroid of those
measurements on the sphere; its angles and local time are those of the
measurement nearest that centroid; its area sums the footprints of the
pixels that emit (excess at least a fifth of the peak excess and at least
three times the pixel's random error). A 3x3 median damps single hot
pixels before the centroid and peak are taken, so one cosmic-ray hit inside
a box cannot drag the position or claim the peak.

This is what the paper asked for and its pipeline never delivered: a
catalogue in physical units, not boxes on a picture.
"""

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from marsaurora.detect import BOX_DECIMALS, Detection
from marsaurora.emus import Observation
from marsaurora.preprocess import NO_SOURCE, Heatmap

MARS_RADIUS_KM = 3389.5
NIGHT_SZA_DEG = 110.0
MIN_BACKGROUND_PIXELS = 20
EMITTING_PEAK_FRACTION = 0.2
EMITTING_SIGMA = 3.0
CATALOG_STEM = "catalog"
CATALOG_COLUMNS: tuple[tuple[str, type, str | None], ...] = (
    ("observation", str, None), ("orbit", int, None), ("start_utc", str, None),
    ("index", int, None), ("confidence", float, None), ("lat_deg", float, "deg"),
    ("lon_deg", float, "deg"), ("sza_deg", float, "deg"), ("local_time_h", float, "h"),
    ("emission_deg", float, "deg"), ("area_km2", float, "km2"), ("peak_r", float, "R"),
    ("mean_r", float, "R"), ("background_r", float, "R"), ("n_pixels", int, None),
    ("x0_px", float, "pix"), ("y0_px", float, "pix"), ("x1_px", float, "pix"),
    ("y1_px", float, "pix"))
"""Name, type and unit of each catalogue column; an unknown orbit is -1."""


@dataclass(frozen=True)
class AuroraLocation:
    """One detection in physical terms; NaN where the box shows no disk."""

    lat_deg: float
    lon_deg: float
    sza_deg: float
    local_time_h: float
    emission_deg: float
    area_km2: float
    peak_r: float
    mean_r: float
    background_r: float
    n_pixels: int
    """Scan pixels on the disk inside the box."""

    def to_record(self) -> dict[str, Any]:
        """JSON-ready, rounded; NaN becomes None."""
        return {k: (None if isinstance(v, float) and not np.isfinite(v) else
                    round(v, 3) if isinstance(v, float) else v)
                for k, v in asdict(self).items()}


def locate(observation: Observation, heatmap: Heatmap, detection: Detection) -> AuroraLocation:
    """Map one detection's box back onto Mars.

    The box is taken at the precision records carry (:data:`BOX_DECIMALS`), so
    the catalog stage, which gets it from an event, selects the same pixels
    as the in-process pipeline.
    """
    box = tuple(round(v, BOX_DECIMALS) for v in detection.box_px)
    integ, slit = _box_pixels(heatmap, box)
    disk = observation.on_disk[integ, slit] & np.isfinite(observation.brightness_r[integ, slit])
    integ, slit = integ[disk], slit[disk]
    if integ.size == 0:
        nan = float("nan")
        return AuroraLocation(nan, nan, nan, nan, nan, nan, nan, nan, nan, 0)
    brightness = observation.brightness_r[integ, slit]
    smoothed = _median3(observation.brightness_r, integ, slit)
    background = _night_background(observation, integ, slit, brightness)
    excess = smoothed - background
    error = np.nan_to_num(observation.brightness_err_r[integ, slit], nan=0.0)
    peak_excess = float(np.nanmax(excess))
    emitting = (excess >= EMITTING_PEAK_FRACTION * peak_excess) & (excess >= EMITTING_SIGMA * error)
    if peak_excess <= 0 or not emitting.any():
        emitting = excess == np.nanmax(excess)
    weights = np.where(emitting, np.clip(excess, 0, None), 0.0)
    if weights.sum() <= 0:
        weights = emitting.astype(float)
    vectors = _unit_vectors(observation.lat_deg[integ, slit], observation.lon_deg[integ, slit])
    centroid = (weights[:, None] * vectors).sum(axis=0)
    centroid /= np.linalg.norm(centroid)
    nearest = int(np.argmax(vectors @ centroid))
    at = (integ[nearest], slit[nearest])
    areas = _footprint_areas_km2(observation, integ[emitting], slit[emitting])
    return AuroraLocation(
        lat_deg=float(np.degrees(np.arcsin(np.clip(centroid[2], -1, 1)))),
        lon_deg=float(np.degrees(np.arctan2(centroid[1], centroid[0])) % 360.0),
        sza_deg=float(observation.sza_deg[at]), local_time_h=float(observation.local_time_h[at]),
        emission_deg=float(observation.emission_deg[at]), area_km2=float(areas),
        peak_r=float(np.nanmax(smoothed)), mean_r=float(np.nanmean(brightness[emitting])),
        background_r=float(background), n_pixels=int(integ.size))


def catalog_detections(observation: Observation, heatmap: Heatmap,
                       detections: Iterable[Detection]) -> list[dict[str, Any]]:
    """The record's ``detections``: each aurora box with its location on Mars."""
    return [{**d.to_record(), **locate(observation, heatmap, d).to_record()}
            for d in detections]


def _box_pixels(heatmap: Heatmap, box_px: tuple[float, float, float, float]
                ) -> tuple[np.ndarray, np.ndarray]:
    """The distinct scan pixels the heatmap shows inside a box."""
    height, width = heatmap.integration.shape
    x0, y0 = max(int(np.floor(box_px[0])), 0), max(int(np.floor(box_px[1])), 0)
    x1, y1 = min(int(np.ceil(box_px[2])), width), min(int(np.ceil(box_px[3])), height)
    integ = heatmap.integration[y0:y1, x0:x1].ravel().astype(np.int64)
    slit = heatmap.slit_pixel[y0:y1, x0:x1].ravel().astype(np.int64)
    shown = integ != NO_SOURCE
    width_scan = int(slit.max(initial=0)) + 1
    flat = np.unique(integ[shown] * width_scan + slit[shown])
    return flat // width_scan, flat % width_scan


def _median3(image: np.ndarray, integ: np.ndarray, slit: np.ndarray) -> np.ndarray:
    """NaN-aware 3x3 median of ``image`` at the given pixels."""
    padded = np.pad(image.astype(np.float64), 1, constant_values=np.nan)
    neighbours = np.stack([padded[integ + 1 + di, slit + 1 + dp]
                           for di in (-1, 0, 1) for dp in (-1, 0, 1)])
    return np.nanmedian(neighbours, axis=0)


def _night_background(observation: Observation, integ: np.ndarray, slit: np.ndarray,
                      inside: np.ndarray) -> float:
    """Median night-disk brightness outside the box, or the box's lower quartile."""
    night = observation.on_disk & (observation.sza_deg > NIGHT_SZA_DEG)
    night &= np.isfinite(observation.brightness_r)
    night[integ, slit] = False
    if night.sum() >= MIN_BACKGROUND_PIXELS:
        return float(np.median(observation.brightness_r[night]))
    return float(np.nanpercentile(inside, 25))


def _unit_vectors(lat_deg: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
    lat, lon = np.radians(lat_deg), np.radians(lon_deg)
    return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=-1)


def _footprint_areas_km2(observation: Observation, integ: np.ndarray, slit: np.ndarray) -> float:
    """Summed surface area of pixel footprints (quadrilaterals of their four corners).

    Corner order differs between files, so each footprint's area is taken
    from the pair of its corner-to-corner segments that are its diagonals
    (half the largest cross product). Footprints with a corner off the disk
    count as the median of the complete ones.
    """
    if integ.size == 0:
        return 0.0
    corners = _unit_vectors(observation.lat_corners_deg[:, integ, slit],
                            observation.lon_corners_deg[:, integ, slit]) * MARS_RADIUS_KM
    a, b, c, d = corners
    pairings = ((a - c, b - d), (a - b, c - d), (a - d, b - c))
    area = np.max([np.linalg.norm(np.cross(p, q), axis=-1) for p, q in pairings], axis=0) / 2
    complete = np.isfinite(area)
    if not complete.any():
        return float("nan")
    area[~complete] = np.median(area[complete])
    return float(area.sum())


def catalog_rows(records: Iterable[dict[str, Any]]) -> Iterable[dict[str, Any]]:
    """One row per aurora detection across observation records, in record order."""
    for record in records:
        for index, detection in enumerate(record.get("detections") or []):
            x0, y0, x1, y1 = detection["box_px"]
            row = {"observation": record["observation"], "orbit": record.get("orbit"),
                   "start_utc": record.get("start_utc"), "index": index, **detection,
                   "x0_px": x0, "y0_px": y0, "x1_px": x1, "y1_px": y1}
            yield {name: _cell(row.get(name), kind) for name, kind, _ in CATALOG_COLUMNS}


def write_catalog(records_path: Path, out_dir: Path) -> list[Path]:
    """Write ``catalog.ecsv`` (astropy, with units) and ``catalog.csv`` from a records file."""
    from astropy.table import Table

    with records_path.open(encoding="utf-8") as lines:
        rows = list(catalog_rows(json.loads(line) for line in lines if line.strip()))
    names = [name for name, _, _ in CATALOG_COLUMNS]
    table = Table(rows=[[row[n] for n in names] for row in rows] or None, names=names,
                  dtype=[kind for _, kind, _ in CATALOG_COLUMNS])
    for name, _, unit in CATALOG_COLUMNS:
        table[name].unit = unit
    table.meta["description"] = ("Discrete aurora detections in EMUS O I 130.4 nm scans "
                                 "(marsaurora); one row per detection.")
    ecsv, plain = out_dir / f"{CATALOG_STEM}.ecsv", out_dir / f"{CATALOG_STEM}.csv"
    table.write(ecsv, format="ascii.ecsv", overwrite=True)
    table.write(plain, format="ascii.csv", overwrite=True)
    return [ecsv, plain]


def _cell(value: Any, kind: type) -> Any:
    """A missing value as the column's placeholder: NaN, -1 or an empty string."""
    if value is None:
        return {float: float("nan"), int: -1, str: ""}[kind]
    return kind(value)
