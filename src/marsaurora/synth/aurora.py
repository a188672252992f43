"""Shapes of synthetic auroras on the disk: spots, patch clusters and arcs.

Each shape is drawn on the scan's pixel grid as seen through the pixels'
footprints: an aurora narrower than a pixel is spread over it, so its pixel
brightness falls below its intrinsic peak (its width is combined with the
footprint's, and the peak scaled to keep the emission). A shape's value is 1
where the intrinsic emission peaks, before that dilution.

Widths are full widths at half maximum (km on the surface). The cross-section
(``profile``) is Gaussian, exponential or flat-topped, all with the same
width at half maximum.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from marsaurora.mars import MARS_RADIUS_KM
from marsaurora.synth.ranges import Interval

KM_PER_DEG = np.radians(1.0) * MARS_RADIUS_KM
BOX_TO_FWHM_SQUARED = 0.46
"""A uniform footprint of size f widens a profile's FWHM as ``sqrt(w**2 + 0.46 f**2)``."""
PATH_STEP_KM = 25.0


@dataclass(frozen=True)
class Shape:
    """An aurora's relative brightness per scan pixel, and how it was drawn."""

    values: np.ndarray
    kind: str
    width_km: float
    length_km: float
    form: str = ""
    crustal: bool = False


def profile(distance_km: np.ndarray, width_km: np.ndarray | float, kind: str) -> np.ndarray:
    """Cross-section at ``distance_km`` from the aurora's axis or centre; 0.5 at half the width."""
    x = np.abs(distance_km) / width_km
    if kind == "gaussian":
        return np.exp(-4.0 * np.log(2.0) * x**2)
    if kind == "exponential":
        return np.exp(-2.0 * np.log(2.0) * x)
    if kind == "flat":
        return np.exp(-np.log(2.0) * (2.0 * x) ** 8)
    raise ValueError(f"unknown aurora profile {kind!r}; choose gaussian, exponential or flat")


def draw(rng: np.random.Generator, intervals: tuple[Interval, ...], *, log: bool = False) -> float:
    """One value from one of ``intervals`` (chosen at random), uniform or log-uniform."""
    low, high = intervals[int(rng.integers(len(intervals)))]
    if log:
        return float(np.exp(rng.uniform(np.log(low), np.log(high))))
    return float(rng.uniform(low, high))


def footprint_km(surface_km: np.ndarray) -> np.ndarray:
    """Size of each pixel's footprint on the surface, km (geometric mean of its two sides).

    ``surface_km``: ``(nint, 5, npix, 3)``, point 0 the centre, then four
    corners in order. Footprints with a corner off the disk take the median.
    """
    corners = surface_km[:, 1:]
    side_a = np.linalg.norm(corners[:, 1] - corners[:, 0], axis=-1)
    side_b = np.linalg.norm(corners[:, 3] - corners[:, 0], axis=-1)
    size = np.sqrt(side_a * side_b)
    fill = np.nanmedian(size) if np.isfinite(size).any() else 60.0
    return np.where(np.isfinite(size), size, fill)


def diluted(width_km: float, footprint: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Effective width per pixel, and the factor a 1-D profile's peak keeps."""
    effective = np.sqrt(width_km**2 + BOX_TO_FWHM_SQUARED * footprint**2)
    return effective, width_km / effective


def chord_km(normal: np.ndarray, point: np.ndarray) -> np.ndarray:
    """Straight-line distance from each surface normal (NaN off disk) to ``point``, km."""
    return np.linalg.norm(np.nan_to_num(normal, nan=2.0) - point, axis=-1) * MARS_RADIUS_KM


def spot(normal: np.ndarray, footprint: np.ndarray, anchor: np.ndarray, width_km: float,
         kind: str) -> np.ndarray:
    """A round spot centred on ``anchor``."""
    effective, keep = diluted(width_km, footprint)
    return keep**2 * profile(chord_km(normal, anchor), effective, kind)


def patches(rng: np.random.Generator, normal: np.ndarray, footprint: np.ndarray,
            anchor: np.ndarray, blobs: int, spread_km: float,
            widths: Callable[[], float], kind: str) -> np.ndarray:
    """A cluster of ``blobs`` spots scattered about ``anchor``, brightest blob centre 1."""
    east = _unit(np.cross([0.0, 0.0, 1.0], anchor))
    north = np.cross(anchor, east)
    centres, sizes, weights = [], [], []
    for _ in range(blobs):
        offset = rng.normal(0.0, spread_km / 2.0, size=2) / MARS_RADIUS_KM
        centres.append(_unit(anchor + offset[0] * east + offset[1] * north))
        sizes.append(widths())
        weights.append(rng.uniform(0.4, 1.0))
    intrinsic_peak = max(
        sum(w * profile(np.linalg.norm(c - other) * MARS_RADIUS_KM, s, kind)
            for c, s, w in zip(centres, sizes, weights, strict=True))
        for other in centres)
    total = np.zeros(normal.shape[:2])
    for centre, size, weight in zip(centres, sizes, weights, strict=True):
        total += weight * spot(normal, footprint, centre, size, kind)
    return total / intrinsic_peak


def arc(rng: np.random.Generator, normal: np.ndarray, footprint: np.ndarray, disk: np.ndarray,
        start: np.ndarray, heading: np.ndarray, *, length_km: float, width_km: float, form: str,
        kind: str) -> np.ndarray:
    """A band ``width_km`` wide along a path of ``length_km`` from ``start`` towards ``heading``.

    ``form``: ``straight``, ``curved`` (one bend) or ``sinuous`` (a wave
    across the path). Brightness varies along the arc and fades at its ends.
    """
    side = np.cross(start, heading)
    step = min(PATH_STEP_KM, width_km / 3.0)
    along = np.arange(0.0, length_km + step, step)
    if form == "straight":
        lateral_km = np.zeros_like(along)
    elif form == "curved":
        radius = rng.uniform(0.6, 3.0) * length_km * rng.choice([-1, 1])
        lateral_km = (along - length_km / 2.0) ** 2 / (2.0 * radius)
    elif form == "sinuous":
        wave, amplitude = rng.uniform(500.0, 2500.0), rng.uniform(50.0, 400.0)
        lateral_km = amplitude * np.sin(2 * np.pi * along / wave + rng.uniform(0, 2 * np.pi))
    else:
        raise ValueError(f"unknown arc form {form!r}; choose straight, curved or sinuous")
    angle = along / MARS_RADIUS_KM
    path = _unit(np.cos(angle)[:, None] * start + np.sin(angle)[:, None] * heading
                 + np.tan(lateral_km / MARS_RADIUS_KM)[:, None] * side)
    taper = np.clip(np.sin(np.pi * (along + step / 2) / (length_km + step)), 0.0, 1.0) ** 0.5
    beads = np.interp(along, np.linspace(0, length_km, 12), rng.uniform(0.6, 1.0, size=12))
    strength = taper * beads
    strength /= strength.max()
    points = np.nan_to_num(normal[disk])
    nearest = np.empty(points.shape[0])
    weight = np.empty(points.shape[0])
    for chunk in range(0, points.shape[0], 2048):
        block = points[chunk:chunk + 2048]
        chords = np.linalg.norm(block[:, None, :] - path[None], axis=-1) * MARS_RADIUS_KM
        index = np.argmin(chords, axis=1)
        nearest[chunk:chunk + 2048] = chords[np.arange(block.shape[0]), index]
        weight[chunk:chunk + 2048] = strength[index]
    effective, keep = diluted(width_km, footprint[disk])
    values = np.zeros(disk.shape)
    values[disk] = weight * keep * profile(nearest, effective, kind)
    return values


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)
