"""Where on Mars each aurora is: features and boxes mapped back through the scan's geometry.

An aurora reaches the catalogue as a feature of the excess map (the
connected pixels brighter than their background, see
:mod:`marsaurora.classify.excess`) with the detector boxes merged onto it,
or, with the paper screen and no feature under it, as a detector box alone.
A feature holding auroras far apart whose faint edges touch gives each its
own row (:mod:`marsaurora.classify.cores`), each with the boxes lying on it.
Either way it selects real measurements with their latitude, longitude,
angles and brightness. The aurora's position is the excess-weighted centroid
on the sphere of all its pixels (a feature's) or of its emitting ones (a bare
box's); its extent is the latitude and longitude range of all its pixels; its
angles and local time are those of the measurement nearest the centroid; its
area sums the footprints of the emitting pixels: those with an excess of at
least a fifth of the peak excess. A feature's pixels were already judged
together by the excess map, so none needs to be significant on its own (a
faint wide aurora has no pixel at 3 sigma, and would otherwise be placed by
its one brightest pixel, that is, by noise); a bare detector box's pixels
were judged by nobody, and each must also be three times its random error.
A 3x3 median damps single hot pixels before the centroid and the emitting
pixels are found. The peak brightness is the brightest pair of touching
pixels, read at the fainter of the two: one cosmic-ray hit cannot claim it,
and a compact spot keeps its brightness, which the median took a half to
three quarters of (:func:`_pair_peak`).

This is what the paper asked for and its pipeline never delivered: a
catalogue in physical units, one row per aurora, not boxes on a picture.
"""

import json
from collections.abc import Iterable
from datetime import datetime
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from marsaurora.classify.cores import distinct_cores
from marsaurora.classify.features import Feature, FeatureMap
from marsaurora.classify.physical import bbox_px
from marsaurora.detect import BOX_DECIMALS, Detection
from marsaurora.emus import Observation
from marsaurora.fusion import Fusion, FusedAurora, box_pixels, union_box
from marsaurora.image_sets import image_sets
from marsaurora.mars import MARS_RADIUS_KM, unit_vectors
from marsaurora.mars_time import solar_longitude_deg, sun_distance_au
from marsaurora.preprocess import Heatmap

NIGHT_SZA_DEG = 110.0
MIN_BACKGROUND_PIXELS = 20
EMITTING_PEAK_FRACTION = 0.2
EMITTING_SIGMA = 3.0
CATALOG_STEM = "catalog"
CATALOG_COLUMNS: tuple[tuple[str, type, str | None], ...] = (
    ("observation", str, None), ("orbit", int, None), ("mode", str, None), ("swath", str, None),
    ("image_set", str, None), ("product_version", str, None), ("start_utc", str, None),
    ("peak_utc", str, None),
    ("ls_deg", float, "deg"), ("sun_distance_au", float, "AU"), ("sc_alt_km", float, "km"),
    ("index", int, None), ("decided_by", str, None), ("confidence", float, None),
    ("significance", float, None), ("n_boxes", int, None), ("lat_deg", float, "deg"),
    ("lon_deg", float, "deg"), ("lat_min_deg", float, "deg"), ("lat_max_deg", float, "deg"),
    ("lon_min_deg", float, "deg"), ("lon_max_deg", float, "deg"), ("sza_deg", float, "deg"),
    ("local_time_h", float, "h"), ("emission_deg", float, "deg"), ("area_km2", float, "km2"),
    ("peak_r", float, "R"), ("mean_r", float, "R"), ("background_r", float, "R"),
    ("n_pixels", int, None), ("x0_px", float, "pix"), ("y0_px", float, "pix"),
    ("x1_px", float, "pix"), ("y1_px", float, "pix"))
"""Name, type and unit of each catalogue column; an unknown orbit is -1, a missing number NaN."""


@dataclass(frozen=True)
class AuroraLocation:
    """One aurora in physical terms; NaN where it covers no disk.

    ``lon_min_deg`` to ``lon_max_deg`` runs eastward and may pass through
    0 deg (then ``lon_min_deg > lon_max_deg``).
    """

    lat_deg: float
    lon_deg: float
    lat_min_deg: float
    lat_max_deg: float
    lon_min_deg: float
    lon_max_deg: float
    sza_deg: float
    local_time_h: float
    emission_deg: float
    area_km2: float
    peak_r: float
    mean_r: float
    background_r: float
    n_pixels: int
    """Scan pixels on the disk that make it up."""
    peak_utc: str | None = None
    """UTC of the integration holding the peak (``TIME_UTC``); None when the file lacks it."""
    ls_deg: float = float("nan")
    """Solar longitude (the Martian season) at ``peak_utc``, or at the file's start."""
    sun_distance_au: float = float("nan")
    sc_alt_km: float = float("nan")
    """Spacecraft altitude at the peak's integration (``SC_GEOM`` ``SC_ALT``)."""

    def to_record(self) -> dict[str, Any]:
        """JSON-ready, rounded; NaN becomes None."""
        return {k: (None if isinstance(v, float) and not np.isfinite(v) else
                    round(v, 3) if isinstance(v, float) else v)
                for k, v in asdict(self).items()}


def locate(observation: Observation, heatmap: Heatmap, detection: Detection) -> AuroraLocation:
    """Map one detector box back onto Mars, with the background measured around it."""
    integ, slit = box_pixels(heatmap, detection.box_px)
    disk = observation.on_disk[integ, slit] & np.isfinite(observation.brightness_r[integ, slit])
    integ, slit = integ[disk], slit[disk]
    if integ.size == 0:
        return _nowhere()
    brightness = observation.brightness_r[integ, slit]
    background = _night_background(observation, integ, slit, brightness)
    return _locate(observation, integ, slit, np.full(integ.size, background), EMITTING_SIGMA,
                   weigh_all=False)


def locate_feature(observation: Observation, excess: FeatureMap,
                   *features: Feature) -> AuroraLocation:
    """Map features of the excess map (one aurora's) onto Mars, against the excess map's own
    background."""
    return _locate_pixels(observation, excess, *excess.pixels(*features))


def _locate_pixels(observation: Observation, excess: FeatureMap, integ: np.ndarray,
                   slit: np.ndarray) -> AuroraLocation:
    if integ.size == 0:
        return _nowhere()
    background = (observation.brightness_r[integ, slit].astype(np.float64)
                  - excess.excess_r[integ, slit])
    return _locate(observation, integ, slit, background, 0.0, weigh_all=True)


def _locate(observation: Observation, integ: np.ndarray, slit: np.ndarray,
            background: np.ndarray, min_sigma: float, *, weigh_all: bool) -> AuroraLocation:
    """Centroid, extent, angles, area and brightness of a set of on-disk pixels over their
    ``background``; the excess is the 3x3 median's over it, the peak the touching pair's
    (:func:`_pair_peak`). An emitting pixel needs ``min_sigma`` times its random error besides
    a fifth of the peak excess.
    With ``weigh_all`` (a feature's pixels, judged together by the excess map) every pixel's
    positive excess weighs in the centroid, not only the emitting pixels': a long arc's
    stretches under a fifth of its brightest (where it crosses between pixel rows, or away
    from the slant-brightened limb) pulled its row towards its brightest part."""
    brightness = observation.brightness_r[integ, slit]
    error = np.nan_to_num(observation.brightness_err_r[integ, slit], nan=0.0)
    neighbours = _neighbourhoods(observation.brightness_r, integ, slit)
    excess = np.nanmedian(neighbours, axis=0) - background
    pair = _pair_peak(neighbours) - background
    median_peak = float(np.nanmax(excess))
    emitting = (excess >= EMITTING_PEAK_FRACTION * median_peak) & (excess >= min_sigma * error)
    if median_peak <= 0 or not emitting.any():
        emitting = excess == np.nanmax(excess)
    weights = np.where(emitting | weigh_all, np.clip(excess, 0, None), 0.0)
    if weights.sum() <= 0:
        weights = emitting.astype(float)
    lat, lon = observation.lat_deg[integ, slit], observation.lon_deg[integ, slit]
    vectors = unit_vectors(lat, lon)
    centroid = (weights[:, None] * vectors).sum(axis=0)
    centroid /= np.linalg.norm(centroid)
    nearest = int(np.argmax(vectors @ centroid))
    at = (integ[nearest], slit[nearest])
    peak = int(np.nanargmax(pair if np.isfinite(pair).any() else excess))
    peak_excess = float(pair[peak]) if np.isfinite(pair[peak]) else float(excess[peak])
    lon_min, lon_max = _longitude_span(lon)
    when = _when(observation, int(integ[peak]))
    return AuroraLocation(
        lat_deg=float(np.degrees(np.arcsin(np.clip(centroid[2], -1, 1)))),
        lon_deg=float(np.degrees(np.arctan2(centroid[1], centroid[0])) % 360.0),
        lat_min_deg=float(np.min(lat)), lat_max_deg=float(np.max(lat)),
        lon_min_deg=lon_min, lon_max_deg=lon_max,
        sza_deg=float(observation.sza_deg[at]), local_time_h=float(observation.local_time_h[at]),
        emission_deg=float(observation.emission_deg[at]),
        area_km2=_footprint_areas_km2(observation, integ[emitting], slit[emitting]),
        peak_r=peak_excess + float(background[peak]),
        mean_r=float(np.nanmean(brightness[emitting])),
        background_r=float(background[peak]), n_pixels=int(integ.size), **when)


def _when(observation: Observation, integration: int) -> dict[str, Any]:
    """When the integration holding a peak was taken: UTC, Ls, Mars-Sun distance, altitude."""
    utc: str | None = None
    moment = observation.filename.start_utc if observation.filename is not None else None
    if integration < len(observation.time_utc):
        utc = observation.time_utc[integration]
        try:
            moment = datetime.fromisoformat(utc.replace("Z", ""))
        except ValueError:
            utc = None
    altitude = (float(observation.sc_alt_km[integration])
                if integration < observation.sc_alt_km.size else float("nan"))
    return {"peak_utc": utc, "sc_alt_km": altitude,
            "ls_deg": solar_longitude_deg(moment) if moment else float("nan"),
            "sun_distance_au": sun_distance_au(moment) if moment else float("nan")}


def _nowhere() -> AuroraLocation:
    nan = float("nan")
    return AuroraLocation(nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, 0)


def _longitude_span(lon_deg: np.ndarray) -> tuple[float, float]:
    """The shortest eastward arc ``(start, end)`` holding every longitude, degrees."""
    ordered = np.sort(np.mod(lon_deg, 360.0))
    gaps = np.diff(np.append(ordered, ordered[0] + 360.0))
    widest = int(np.argmax(gaps))
    return float(ordered[(widest + 1) % ordered.size]), float(ordered[widest])


def catalog_auroras(observation: Observation, heatmap: Heatmap, excess: FeatureMap,
                    fusion: Fusion) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The record's ``detections`` (one per aurora, one per distinct core of a feature that
    holds several) and ``flagged`` boxes, located on Mars."""
    detections = [record for aurora in fusion.auroras
                  for record in _aurora_records(observation, heatmap, excess, aurora)]
    flagged = [{**box.to_record(), **locate(observation, heatmap, box).to_record()}
               for box in fusion.flagged]
    return detections, flagged


def _aurora_records(observation: Observation, heatmap: Heatmap, excess: FeatureMap,
                    aurora: FusedAurora) -> list[dict[str, Any]]:
    """One record per distinct core of the aurora's features
    (:func:`~marsaurora.classify.cores.distinct_cores`), each with the boxes that lie mostly on
    it. The rows of one split aurora share its ``significance``; a row without a box of its own
    is ``decided_by: screen``, since each core holds
    :data:`~marsaurora.classify.cores.CORE_SIGNIFICANCE` over the file's errors, and the others
    keep the aurora's decision."""
    feature = aurora.feature
    if feature is None:
        return [_record(aurora, aurora.decided_by, aurora.boxes, aurora.box_px,
                        locate(observation, heatmap, aurora.boxes[0]))]
    integ, slit = excess.pixels(*aurora.features)
    parts = _core_parts(observation, excess, integ, slit)
    if parts.max() <= 1:
        box = aurora.box_px or bbox_px(heatmap, feature.integration_range,
                                       feature.slit_pixel_range)
        return [_record(aurora, aurora.decided_by, aurora.boxes, box,
                        _locate_pixels(observation, excess, integ, slit))]
    boxes_of = _boxes_by_part(heatmap, aurora.boxes, parts)
    records = []
    for part in range(1, int(parts.max()) + 1):
        at = parts[integ, slit] == part
        boxes = boxes_of.get(part, ())
        box = (union_box(boxes) if boxes else
               bbox_px(heatmap, (int(integ[at].min()), int(integ[at].max())),
                       (int(slit[at].min()), int(slit[at].max()))))
        records.append(_record(aurora, aurora.decided_by if boxes else "screen", boxes, box,
                               _locate_pixels(observation, excess, integ[at], slit[at])))
    return records


def _core_parts(observation: Observation, excess: FeatureMap, integ: np.ndarray,
                slit: np.ndarray) -> np.ndarray:
    """The scan's pixels numbered by the distinct core they belong to; 0 off the aurora."""
    mask = np.zeros(excess.labels.shape, bool)
    mask[integ, slit] = True
    background = observation.brightness_r.astype(np.float64) - excess.excess_r
    return distinct_cores(excess.excess_r, mask, observation.brightness_err_r, background,
                          observation.lat_deg, observation.lon_deg)


def _boxes_by_part(heatmap: Heatmap, boxes: tuple[Detection, ...],
                   parts: np.ndarray) -> dict[int, tuple[Detection, ...]]:
    """Each box given to the part most of its aurora pixels lie on (the first part when none
    lies under it)."""
    given: dict[int, tuple[Detection, ...]] = {}
    for box in boxes:
        integ, slit = box_pixels(heatmap, box.box_px)
        under = parts[integ, slit]
        under = under[under > 0]
        part = int(np.bincount(under).argmax()) if under.size else 1
        given[part] = given.get(part, ()) + (box,)
    return given


def _record(aurora: FusedAurora, decided_by: str, boxes: tuple[Detection, ...],
            box: tuple[float, float, float, float], where: AuroraLocation) -> dict[str, Any]:
    confidence = max((b.confidence for b in boxes), default=None)
    feature = aurora.feature
    return {"label": "aurora", "decided_by": decided_by,
            "confidence": None if confidence is None else round(confidence, 4),
            "significance": None if feature is None else round(feature.significance, 2),
            "n_boxes": len(boxes),
            "box_px": [round(float(v), BOX_DECIMALS) for v in box],
            **where.to_record()}


def _neighbourhoods(image: np.ndarray, integ: np.ndarray, slit: np.ndarray) -> np.ndarray:
    """``(9, n)``: the 3x3 neighbourhood of each given pixel of ``image``, NaN off its edge."""
    padded = np.pad(image.astype(np.float64), 1, constant_values=np.nan)
    return np.stack([padded[integ + 1 + di, slit + 1 + dp]
                     for di in (-1, 0, 1) for dp in (-1, 0, 1)])


def _pair_peak(neighbours: np.ndarray) -> np.ndarray:
    """The second brightest of each 3x3 neighbourhood (:func:`_neighbourhoods`, the pixel itself
    among them): the brightness two touching pixels both reach. Its maximum over an aurora is
    its peak. A lone hot pixel never reaches it; a compact spot does, where the 3x3 median keeps
    the background around it: over the injected brightest pixel, rows read 0.97-1.09 at the
    median instead of 0.75-0.85 (docs/screens.md, "How bright the catalogue says an aurora
    is"). NaN where fewer than two neighbours hold data."""
    neighbours = np.where(np.isfinite(neighbours), neighbours, -np.inf)
    second = np.partition(neighbours, -2, axis=0)[-2]
    return np.where(np.isfinite(second), second, np.nan)


def _night_background(observation: Observation, integ: np.ndarray, slit: np.ndarray,
                      inside: np.ndarray) -> float:
    """Median night-disk brightness outside the box, or the box's lower quartile."""
    night = observation.on_disk & (observation.sza_deg > NIGHT_SZA_DEG)
    night &= np.isfinite(observation.brightness_r)
    night[integ, slit] = False
    if night.sum() >= MIN_BACKGROUND_PIXELS:
        return float(np.median(observation.brightness_r[night]))
    return float(np.nanpercentile(inside, 25))


def _footprint_areas_km2(observation: Observation, integ: np.ndarray, slit: np.ndarray) -> float:
    """Summed surface area of pixel footprints (quadrilaterals of their four corners).

    Corner order differs between files, so each footprint's area is taken
    from the pair of its corner-to-corner segments that are its diagonals
    (half the largest cross product). Footprints with a corner off the disk
    count as the median of the complete ones.
    """
    if integ.size == 0:
        return 0.0
    corners = unit_vectors(observation.lat_corners_deg[:, integ, slit],
                           observation.lon_corners_deg[:, integ, slit]) * MARS_RADIUS_KM
    a, b, c, d = corners
    pairings = ((a - c, b - d), (a - b, c - d), (a - d, b - c))
    area = np.max([np.linalg.norm(np.cross(p, q), axis=-1) for p, q in pairings], axis=0) / 2
    complete = np.isfinite(area)
    if not complete.any():
        return float("nan")
    area[~complete] = np.median(area[complete])
    return float(area.sum())


_ROW_FIELDS = ("observation", "orbit", "mode", "swath", "product_version", "start_utc",
               "detections")
"""What a row needs of its record: only these are kept, and only of records with detections,
so a long run's catalogue holds its detections and one name per observation, not every
record's candidates and coverage."""


def catalog_rows(records: Iterable[dict[str, Any]]) -> Iterable[dict[str, Any]]:
    """One row per aurora detection across observation records, in record order, each with
    its file's image set among these records (:mod:`marsaurora.image_sets`). Reads
    ``records`` once, keeping what :data:`_ROW_FIELDS` says."""
    names: list[str] = []
    detected: list[dict[str, Any]] = []
    for record in records:
        names.append(record["observation"])
        if record.get("detections"):
            detected.append({field: record.get(field) for field in _ROW_FIELDS})
    sets = image_sets(names)
    for record in detected:
        for index, detection in enumerate(record.get("detections") or []):
            x0, y0, x1, y1 = detection["box_px"]
            row = {"observation": record["observation"], "orbit": record.get("orbit"),
                   "mode": record.get("mode"), "swath": record.get("swath"),
                   "image_set": sets[record["observation"]],
                   "product_version": record.get("product_version"),
                   "start_utc": record.get("start_utc"), "index": index, **detection,
                   "x0_px": x0, "y0_px": y0, "x1_px": x1, "y1_px": y1}
            yield {name: _cell(row.get(name), kind) for name, kind, _ in CATALOG_COLUMNS}


def write_catalog(records_path: Path, out_dir: Path) -> list[Path]:
    """Write ``catalog.ecsv`` (astropy, with units), ``catalog.csv`` and the EPN-core VOTable
    ``catalog.vot`` (:mod:`marsaurora.votable`) from a records file."""
    from astropy.table import Table

    from marsaurora.votable import write_votable

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
    return [ecsv, plain, write_votable(rows, out_dir / f"{CATALOG_STEM}.vot")]


def _cell(value: Any, kind: type) -> Any:
    """A missing value as the column's placeholder: NaN, -1 or an empty string."""
    if value is None:
        return {float: float("nan"), int: -1, str: ""}[kind]
    return kind(value)
