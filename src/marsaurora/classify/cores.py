"""Distinct auroras inside one connected feature, so each gets its own catalogue row.

A feature of the excess map is every connected pixel brighter than its
background, so two auroras whose faint edges touch (a patch whose
exponential halo reaches an arc along the limb, a spot beside a sinuous
arc) are one feature, and its one catalogue row lies between them, far
from both. This module splits such a feature among the cores it holds.

A core is kept apart from a brighter one only when all of these hold:

- the excess between them sinks to :data:`SADDLE_FRACTION` of its own
  peak or lower (a 3x3 mean within the feature, so one noisy pixel makes
  no peak);
- it is an aurora on its own: :data:`CORE_SIGNIFICANCE` sigma over the
  file's random errors and :data:`CORE_CONTRAST` of the background under
  it, over at least :data:`CORE_MIN_PX` pixels (a lump of glow misfit is a
  fraction of its glow);
- its part lies :data:`MIN_SEPARATION_KM` or more from every other part:
  the lumps of one patch cluster are deep-sagged cores too, and stay one
  row;
- it is not one more piece of a thin arc beside another
  (:func:`~marsaurora.classify.joining.long_and_thin`): a long arc that
  dims where it runs between rows of pixels or away from the limb is one
  aurora however deep the dip.

It is a watershed over a ladder of excess levels: going down the ladder,
every region that appears holds a new core; where regions meet, the
fainter core either stays apart or joins the brightest one there; pixels
reached by several cores go to the nearest along the feature. Pieces of a
feature that never touch (joined across a gap in the data or along an arc)
stay with its brightest core, as the feature says.
"""

from __future__ import annotations

import cv2
import numpy as np

from marsaurora.classify.joining import long_and_thin
from marsaurora.classify.seeds import mean_over
from marsaurora.mars import MARS_RADIUS_KM, unit_vectors

SADDLE_FRACTION = 0.25
"""A core is distinct only where the excess between it and any brighter core sinks to this
fraction of its own peak or lower."""
CORE_SIGNIFICANCE = 10.0
"""A distinct core's summed excess, in units of the file's random errors summed in quadrature
over its pixels (the significance the screen alone asks of an aurora, by default). A file
without random errors is never split."""
CORE_CONTRAST = 0.5
"""A distinct core's summed excess over the background summed under it."""
CORE_MIN_PX = 4
MIN_SEPARATION_KM = 1200.0
"""Parts closer than this (excess-weighted centroids on the sphere) stay one row."""
LEVELS = 24
"""Steps of the ladder, each :data:`LEVEL_RATIO` of the one above, from the feature's peak
down to half a percent of it; a last step takes in every pixel of the feature."""
LEVEL_RATIO = 0.8


def distinct_cores(excess_r: np.ndarray, mask: np.ndarray, error_r: np.ndarray,
                   background_r: np.ndarray, lat_deg: np.ndarray,
                   lon_deg: np.ndarray) -> np.ndarray:
    """Split the pixels of ``mask`` (one aurora's features) among the distinct cores they hold.

    Parameters
    ----------
    excess_r, error_r, background_r : np.ndarray
        Per pixel: the excess over background, its random error and the background (R).
    mask : np.ndarray
        Boolean: the pixels to split.
    lat_deg, lon_deg : np.ndarray
        Per pixel: where it lies on Mars.

    Returns
    -------
    np.ndarray
        int32 of ``mask``'s shape: 0 outside it, 1 for the brightest core's part and 2, 3, ...
        for further distinct ones, brightest first; 1 throughout ``mask`` when it holds one.
    """
    parts = np.zeros(mask.shape, np.int32)
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        return parts
    if _span_km(lat_deg[rows, cols], lon_deg[rows, cols]) < MIN_SEPARATION_KM:
        parts[rows, cols] = 1
        return parts
    window = (slice(max(rows.min() - 1, 0), rows.max() + 2),
              slice(max(cols.min() - 1, 0), cols.max() + 2))
    inside = mask[window]
    excess = np.nan_to_num(excess_r[window].astype(np.float64))
    smoothed = np.where(inside, mean_over(np.where(inside, excess, 0.0), inside, 3)[0], 0.0)
    identity, peaks, apart = _watershed(smoothed, inside, excess,
                                        error_r[window].astype(np.float64),
                                        background_r[window].astype(np.float64))
    local = np.where(inside, 1, 0).astype(np.int32)
    for number, core in enumerate(sorted(apart, key=lambda core: -peaks[core]), start=2):
        local[identity == core] = number
    parts[window] = _arcs_whole(_far_apart(local, excess, lat_deg[window], lon_deg[window]))
    return parts


def _span_km(lat_deg: np.ndarray, lon_deg: np.ndarray) -> float:
    """At least the largest distance between two of the points: twice the largest from their
    mean direction. No two parts of a feature under :data:`MIN_SEPARATION_KM` across can be
    that far apart, so most features need no watershed."""
    vectors = unit_vectors(lat_deg, lon_deg)
    vectors = vectors[np.isfinite(vectors).all(axis=1)]
    if len(vectors) == 0:
        return 0.0
    mean = vectors.mean(axis=0)
    mean /= max(float(np.linalg.norm(mean)), 1e-12)
    return 2 * MARS_RADIUS_KM * float(np.arccos(np.clip(vectors @ mean, -1, 1)).max())


def _watershed(smoothed: np.ndarray, inside: np.ndarray, excess: np.ndarray, error: np.ndarray,
               background: np.ndarray) -> tuple[np.ndarray, list[float], set[int]]:
    """Each pixel's core (-1 for none), each core's peak, and the cores kept apart."""
    identity = np.full(inside.shape, -1, np.int64)
    peaks: list[float] = []
    apart: set[int] = set()
    top = float(smoothed[inside].max())
    if top <= 0:
        return identity, peaks, apart
    for level in np.append(top * LEVEL_RATIO ** np.arange(LEVELS), -np.inf):
        count, regions = cv2.connectedComponents((inside & (smoothed >= level)).astype(np.uint8),
                                                 connectivity=8)
        for region in range(1, count):
            here = regions == region
            present = np.unique(identity[here])
            present = present[present >= 0]
            if present.size == 0:
                identity[here] = len(peaks)
                peaks.append(float(smoothed[here].max()))
                continue
            brightest, *others = sorted(present, key=lambda core: -peaks[core])
            for core in others:
                if core in apart:
                    continue
                own = identity == core
                if _distinct(max(level, 0.0) / peaks[core], own, excess, error, background):
                    apart.add(int(core))
                else:
                    identity[own] = brightest
            _grow(identity, here)
    return identity, peaks, apart


def _distinct(saddle_ratio: float, own: np.ndarray, excess: np.ndarray, error: np.ndarray,
              background: np.ndarray) -> bool:
    """Whether a core meeting a brighter one at ``saddle_ratio`` of its peak is an aurora of its
    own (pixels ``own``)."""
    if saddle_ratio > SADDLE_FRACTION or own.sum() < CORE_MIN_PX:
        return False
    noise = float(np.sqrt(np.nansum(error[own] ** 2)))
    total = float(excess[own].sum())
    under = float(np.nansum(background[own]))
    return (noise > 0 and total >= CORE_SIGNIFICANCE * noise
            and total >= CORE_CONTRAST * max(under, 0.0))


def _far_apart(parts: np.ndarray, excess: np.ndarray, lat_deg: np.ndarray,
               lon_deg: np.ndarray) -> np.ndarray:
    """``parts`` with each part closer than :data:`MIN_SEPARATION_KM` to a brighter one merged
    into the nearest such, renumbered 1, 2, ... in order."""
    centroids: dict[int, np.ndarray] = {}
    for part in range(1, int(parts.max()) + 1):
        here = parts == part
        if not here.any():
            continue
        vectors = unit_vectors(lat_deg[here], lon_deg[here])
        weights = np.clip(excess[here], 0, None) + 1e-12
        centroid = np.nansum(weights[:, None] * vectors, axis=0)
        norm = np.linalg.norm(centroid)
        if part > 1 and not (np.isfinite(norm) and norm > 0):
            parts[here] = 1
            continue
        centroid /= norm
        distances = {kept: MARS_RADIUS_KM * float(np.arccos(np.clip(centroid @ other, -1, 1)))
                     for kept, other in centroids.items()}
        nearest = min(distances, key=distances.get, default=None)
        if nearest is not None and distances[nearest] < MIN_SEPARATION_KM:
            parts[here] = nearest
        else:
            centroids[part] = centroid
    renumber = np.zeros(int(parts.max()) + 1, np.int32)
    renumber[sorted(centroids)] = np.arange(1, len(centroids) + 1)
    return renumber[parts]


def _arcs_whole(parts: np.ndarray) -> np.ndarray:
    """``parts`` with every piece of a thin arc merged into the brightest such piece,
    renumbered 1, 2, ... in order."""
    count = int(parts.max()) + 1
    pieces = long_and_thin(parts, count)
    if pieces.size < 2:
        return parts
    merged = np.arange(count)
    merged[pieces] = pieces[0]
    return np.unique(merged, return_inverse=True)[1].reshape(count).astype(np.int32)[parts]


def _grow(identity: np.ndarray, region: np.ndarray) -> None:
    """Give the pixels of ``region`` without a core the nearest one along it, a pixel a step."""
    while True:
        todo = region & (identity < 0)
        if not todo.any():
            return
        spread = cv2.dilate((identity + 1).astype(np.float32), np.ones((3, 3), np.uint8))
        reached = todo & (spread > 0)
        if not reached.any():
            return
        identity[reached] = spread[reached].astype(np.int64) - 1

