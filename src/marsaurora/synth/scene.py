"""O I 130.4 nm brightness of a synthetic scan, with its ground truth.

Physics (``shared/docs/emus-l2b-format.md``): the dayside falls with solar
zenith angle and brightens towards the limb (longer optically thin path), a
sunlit limb glows above the disk, the nightside airglow sits at 0.01-1 R, and
discrete auroras of 2-50 R take one of the three published morphologies
(crustal-field spots, patchy, sinuous arcs from near the terminator). Counts
are Poisson, and ``RAD_ERR_RAND`` obeys ``counts = (R / err)**2``.

Scenarios name what a file is meant to test: ``aurora``, ``quiet_night``
(night disk, no aurora), ``dayside`` and ``crescent`` (a bright sunlit limb
next to a dark disk). Hot pixels and missing integrations are added to any
scenario as hard negatives.
"""

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from marsaurora.synth.geometry import (MARS_RADIUS_KM, ScanGeometry, Viewpoint,
                                       angular_radius_deg, scan_geometry, unit_vector)

SCENARIOS = ("aurora", "quiet_night", "dayside", "crescent")
DEFAULT_MIX = {"aurora": 0.45, "quiet_night": 0.25, "dayside": 0.15, "crescent": 0.15}
AURORA_TYPES = ("crustal", "patchy", "arc")
AURORA_PEAK_RANGE_R = (2.0, 50.0)
NIGHT_BACKGROUND_RANGE_R = (0.02, 0.8)
CRUSTAL_LAT_DEG = (-75.0, -25.0)
CRUSTAL_LON_DEG = (150.0, 210.0)
# Where injected auroras may be centred: the page's usual night selection.
AURORA_MIN_SZA_DEG = 115.0
AURORA_MAX_EMISSION_DEG = 55.0
# Pixels an aurora adds at least this much to (R, or fraction of peak) form its extent.
EXTENT_MIN_R = 0.5
EXTENT_PEAK_FRACTION = 0.2


@dataclass
class InjectedAurora:
    """One injected aurora, as ``truth.jsonl`` reports it."""

    type: str
    lat_deg: float
    lon_deg: float
    peak_r: float
    size_km: float
    pixel_extent: tuple[int, int, int, int]
    """Inclusive ``(first integration, last integration, first pixel, last pixel)``."""
    peak_pixel: tuple[int, int]

    def to_record(self) -> dict[str, Any]:
        """JSON-ready truth entry."""
        return {"type": self.type, "lat_deg": round(self.lat_deg, 3),
                "lon_deg": round(self.lon_deg, 3), "peak_r": round(self.peak_r, 3),
                "size_km": round(self.size_km, 1), "pixel_extent": list(self.pixel_extent),
                "peak_pixel": list(self.peak_pixel)}


@dataclass
class Scene:
    """A scan's brightness (``(nint, npix)``, R) with what was put into it."""

    scenario: str
    view: Viewpoint
    geometry: ScanGeometry
    brightness_r: np.ndarray
    error_r: np.ndarray
    dayside_r: np.ndarray
    night_background_r: float
    dayside_peak_r: float
    gain_counts_per_r: float
    auroras: list[InjectedAurora] = field(default_factory=list)
    hard_negatives: list[dict[str, Any]] = field(default_factory=list)
    missing_integrations: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))

    @property
    def has_aurora(self) -> bool:
        """Whether at least one aurora was injected."""
        return bool(self.auroras)


def make_scene(rng: np.random.Generator, scenario: str, *,
               shape: tuple[int, int] | None = None) -> Scene:
    """Draw a viewpoint for ``scenario`` and render its brightness.

    ``shape`` forces ``(nint, npix)``, e.g. a square scan to test readers.

    Raises
    ------
    ValueError
        If ``scenario`` is not one of :data:`SCENARIOS`.
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; choose from {SCENARIOS}")
    for _ in range(50):
        view = _draw_viewpoint(rng, scenario, shape)
        geometry = scan_geometry(view)
        scene = _render(rng, scenario, view, geometry)
        if scene is not None:
            return scene
    raise RuntimeError(f"could not draw a usable {scenario!r} scene in 50 tries")


def _draw_viewpoint(rng: np.random.Generator, scenario: str,
                    shape: tuple[int, int] | None) -> Viewpoint:
    """Spacecraft and Sun placed so the disk shows what the scenario needs."""
    separation = {"aurora": (105, 175), "quiet_night": (105, 175),
                  "dayside": (0, 60), "crescent": (135, 160)}[scenario]
    sc_lat = rng.uniform(-25, 25)
    sc_lon = rng.uniform(0, 360)
    while True:
        sun_lat = rng.uniform(-25.2, 25.2)
        angle = np.radians(rng.uniform(*separation))
        cos_dlon = ((np.cos(angle) - np.sin(np.radians(sun_lat)) * np.sin(np.radians(sc_lat)))
                    / (np.cos(np.radians(sun_lat)) * np.cos(np.radians(sc_lat))))
        if abs(cos_dlon) <= 1:
            break
    sun_lon = (sc_lon + rng.choice([-1, 1]) * np.degrees(np.arccos(cos_dlon))) % 360
    partial = rng.random() < 0.2
    distance = rng.uniform(24000, 30000) if partial else rng.uniform(34000, 46000)
    radius = angular_radius_deg(distance)
    nint = int(rng.integers(110, 201))
    scan_half = radius * rng.uniform(1.08, 1.2)
    npix = 192 if rng.random() < 0.2 else 128
    if shape is not None:
        nint, npix = shape
    return Viewpoint(
        sc_distance_km=distance, sub_sc_lat_deg=sc_lat, sub_sc_lon_deg=sc_lon,
        sub_solar_lat_deg=sun_lat, sub_solar_lon_deg=sun_lon,
        roll_deg=rng.uniform(0, 360),
        slit_offset_deg=(rng.choice([-1, 1]) * rng.uniform(2.5, 5.0) if partial
                         else rng.uniform(-0.4, 0.4)),
        scan_start_deg=-scan_half + rng.uniform(-0.3, 0.3),
        scan_step_deg=2 * scan_half / nint, nint=nint, npix=npix)


def sunlit_fraction(sza_deg: np.ndarray) -> np.ndarray:
    """Dayside shape: ``cos(SZA)**0.8`` softened through the terminator."""
    cosine = np.cos(np.radians(sza_deg))
    softness = 0.02
    with np.errstate(invalid="ignore"):
        smooth = softness * np.logaddexp(0.0, cosine / softness)
    return smooth**0.8


def _render(rng: np.random.Generator, scenario: str, view: Viewpoint,
            geometry: ScanGeometry) -> Scene | None:
    centre = _centre(geometry)
    disk = np.isfinite(centre["lat_deg"])
    disk[:, 0] = False  # detector pixel 0 lies outside the slit
    if disk.sum() < 2000:
        return None
    slant = np.where(disk, 1.0 / np.maximum(np.cos(np.radians(centre["emission_deg"])),
                                            0.25), 1.0)
    dayside_peak = rng.uniform(150, 400) * (1.3 if scenario == "crescent" else 1.0)
    sunlit = np.where(disk, sunlit_fraction(centre["sza_deg"]), 0.0)
    dayside = dayside_peak * sunlit * np.sqrt(slant)

    night_level = float(np.exp(rng.uniform(*np.log(NIGHT_BACKGROUND_RANGE_R))))
    normal = _unit(centre["surface_km"])
    pattern_axis = unit_vector(rng.uniform(-90, 90), rng.uniform(0, 360))
    ripple = 1.0 + 0.3 * np.sin(2.5 * np.nan_to_num(normal @ pattern_axis)
                                + rng.uniform(0, 2 * np.pi))
    night = np.where(disk, night_level * ripple * slant, 0.0)

    height = np.maximum(centre["mrh_alt_km"], 0.0)
    off_disk = ~np.isfinite(centre["lat_deg"])
    limb = np.where(off_disk, np.exp(-height / 60.0)
                    * (0.5 * dayside_peak * sunlit_fraction(centre["tangent_sza_deg"])
                       + 3.0 * night_level), 0.0)

    missing = np.zeros(view.nint, dtype=bool)
    if rng.random() < 0.25:
        for _ in range(int(rng.integers(1, 4))):
            start = int(rng.integers(0, view.nint - 5))
            missing[start:start + int(rng.integers(1, 6))] = True
    eligible = (disk & (centre["sza_deg"] >= AURORA_MIN_SZA_DEG)
                & (centre["emission_deg"] <= AURORA_MAX_EMISSION_DEG) & ~missing[:, None])
    if scenario in ("aurora", "quiet_night") and eligible.sum() < 300:
        return None
    if scenario == "dayside" and (disk & (centre["sza_deg"] < 90)).sum() < 0.7 * disk.sum():
        return None

    auroras: list[InjectedAurora] = []
    aurora_map = np.zeros(disk.shape)
    if scenario == "aurora":
        for _ in range(_aurora_count(rng)):
            injected = _inject_aurora(rng, centre, normal, disk, eligible, slant, auroras)
            if injected is not None:
                truth, added = injected
                auroras.append(truth)
                aurora_map += added
        if not auroras:
            return None

    gain = rng.uniform(2.0, 6.0)
    truth_brightness = dayside + night + limb + aurora_map
    counts = rng.poisson(gain * truth_brightness).astype(np.float64)
    brightness = counts / gain
    error = np.sqrt(counts) / gain

    hard_negatives: list[dict[str, Any]] = []
    if rng.random() < 0.35:
        hard_negatives += _add_hot_pixels(rng, brightness, error, disk, eligible, gain)
    if missing.any():
        brightness[missing] = np.nan
        error[missing] = np.nan
        starts = np.flatnonzero(np.diff(np.concatenate([[0], missing.astype(int)])) == 1)
        for start in starts:
            length = int(np.argmin(missing[start:]) or missing[start:].size)
            hard_negatives.append({"type": "missing_integrations", "first": int(start),
                                   "count": length})
    if scenario == "crescent":
        hard_negatives.append({"type": "bright_limb",
                               "limb_peak_r": round(float(np.max(limb)), 1)})
    brightness[:, 0] = np.nan
    error[:, 0] = np.nan
    return Scene(scenario=scenario, view=view, geometry=geometry,
                 brightness_r=brightness.astype(np.float32), error_r=error.astype(np.float32),
                 dayside_r=dayside, night_background_r=night_level,
                 dayside_peak_r=dayside_peak, gain_counts_per_r=gain, auroras=auroras,
                 hard_negatives=hard_negatives, missing_integrations=missing)


def _centre(geometry: ScanGeometry) -> dict[str, np.ndarray]:
    """Pixel-centre (FOV point 0) slice of every geometry array."""
    return {name: getattr(geometry, name)[:, 0] for name in
            ("lat_deg", "lon_deg", "sza_deg", "emission_deg", "mrh_alt_km",
             "tangent_sza_deg", "surface_km")}


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


def _aurora_count(rng: np.random.Generator) -> int:
    return int(rng.choice([1, 2, 3], p=[0.6, 0.3, 0.1]))


def _inject_aurora(rng: np.random.Generator, centre: dict[str, np.ndarray],
                   normal: np.ndarray, disk: np.ndarray, eligible: np.ndarray,
                   slant: np.ndarray, existing: list[InjectedAurora],
                   ) -> tuple[InjectedAurora, np.ndarray] | None:
    """Place one aurora on the eligible night disk, away from earlier ones."""
    crustal = (eligible & (centre["lat_deg"] >= CRUSTAL_LAT_DEG[0])
               & (centre["lat_deg"] <= CRUSTAL_LAT_DEG[1])
               & (centre["lon_deg"] >= CRUSTAL_LON_DEG[0])
               & (centre["lon_deg"] <= CRUSTAL_LON_DEG[1]))
    kinds = [k for k in AURORA_TYPES if k != "crustal" or crustal.sum() >= 20]
    kind = str(rng.choice(kinds))
    peak = float(np.exp(rng.uniform(*np.log(AURORA_PEAK_RANGE_R))))
    for _ in range(20):
        if kind == "arc":
            shape, size_km = _arc_shape(rng, centre, normal, disk)
        else:
            pool = crustal if kind == "crustal" else eligible
            anchor = normal[tuple(rng.choice(np.argwhere(pool)))]
            shape, size_km = (_spot_shape(rng, normal, anchor) if kind == "crustal"
                              else _patch_shape(rng, normal, anchor))
        if shape is None or shape.max() <= 0:
            continue
        shape = np.where(disk, shape / shape.max(), 0.0)
        if shape[eligible].sum() < 0.6 * shape.sum():
            continue
        centroid = _unit((shape[..., None] * np.nan_to_num(normal)).sum(axis=(0, 1)))
        if any(_distance_km(centroid, unit_vector(a.lat_deg, a.lon_deg)) < 1000
               for a in existing):
            continue
        added = peak * shape * np.minimum(slant, 3.0)
        extent = added >= max(EXTENT_MIN_R, EXTENT_PEAK_FRACTION * peak)
        rows, cols = np.nonzero(extent)
        if rows.size == 0:
            continue
        peak_pixel = np.unravel_index(np.argmax(added), added.shape)
        truth = InjectedAurora(
            type=kind, lat_deg=float(np.degrees(np.arcsin(centroid[2]))),
            lon_deg=float(np.degrees(np.arctan2(centroid[1], centroid[0])) % 360),
            peak_r=peak, size_km=size_km,
            pixel_extent=(int(rows.min()), int(rows.max()), int(cols.min()), int(cols.max())),
            peak_pixel=(int(peak_pixel[0]), int(peak_pixel[1])))
        return truth, added
    return None


def _gaussian(normal: np.ndarray, anchor: np.ndarray, sigma_km: float) -> np.ndarray:
    chord = np.linalg.norm(np.nan_to_num(normal, nan=2.0) - anchor, axis=-1) * MARS_RADIUS_KM
    return np.exp(-0.5 * (chord / sigma_km) ** 2)


def _spot_shape(rng: np.random.Generator, normal: np.ndarray,
                anchor: np.ndarray) -> tuple[np.ndarray, float]:
    sigma = rng.uniform(120, 250)
    return _gaussian(normal, anchor, sigma), 2.355 * sigma


def _patch_shape(rng: np.random.Generator, normal: np.ndarray,
                 anchor: np.ndarray) -> tuple[np.ndarray, float]:
    shape = np.zeros(normal.shape[:2])
    east = _unit(np.cross([0.0, 0.0, 1.0], anchor))
    north = np.cross(anchor, east)
    for _ in range(int(rng.integers(3, 7))):
        offset = rng.normal(0, 200, size=2) / MARS_RADIUS_KM
        blob = _unit(anchor + offset[0] * east + offset[1] * north)
        shape += rng.uniform(0.4, 1.0) * _gaussian(normal, blob, rng.uniform(60, 150))
    return shape, 800.0


def _arc_shape(rng: np.random.Generator, centre: dict[str, np.ndarray], normal: np.ndarray,
               disk: np.ndarray) -> tuple[np.ndarray | None, float]:
    """A sinuous band from near the terminator running into the night."""
    starts = disk & (centre["sza_deg"] >= 100) & (centre["sza_deg"] <= 112) & (
        centre["emission_deg"] <= 60)
    night = disk & (centre["sza_deg"] > 125)
    if starts.sum() < 5 or night.sum() < 5:
        return None, 0.0
    start = normal[tuple(rng.choice(np.argwhere(starts)))]
    deep = _unit(normal[night].mean(axis=0))
    heading = _unit(deep - (deep @ start) * start)
    side = np.cross(start, heading)
    length = rng.uniform(1500, 3500)
    wave, amplitude = rng.uniform(800, 2000), rng.uniform(100, 300)
    phase = rng.uniform(0, 2 * np.pi)
    along = np.arange(0, length, 25.0)
    arc_angle = along / MARS_RADIUS_KM
    lateral = np.tan(amplitude * np.sin(2 * np.pi * along / wave + phase) / MARS_RADIUS_KM)
    path = _unit(np.cos(arc_angle)[:, None] * start + np.sin(arc_angle)[:, None] * heading
                 + lateral[:, None] * side)
    taper = (np.clip(np.sin(np.pi * (along + 12.5) / length), 0.0, 1.0) ** 0.5
             * rng.uniform(0.6, 1.0, size=along.size))
    width = rng.uniform(50, 110)
    points = np.nan_to_num(normal[disk])
    nearest = np.empty(points.shape[0])
    weight = np.empty(points.shape[0])
    for chunk in range(0, points.shape[0], 4096):
        block = points[chunk:chunk + 4096]
        chords = np.linalg.norm(block[:, None, :] - path[None], axis=-1) * MARS_RADIUS_KM
        index = np.argmin(chords, axis=1)
        nearest[chunk:chunk + 4096] = chords[np.arange(block.shape[0]), index]
        weight[chunk:chunk + 4096] = taper[index]
    shape = np.zeros(disk.shape)
    shape[disk] = weight * np.exp(-0.5 * (nearest / width) ** 2)
    return shape, length


def _distance_km(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.arccos(np.clip(a @ b, -1, 1)) * MARS_RADIUS_KM)


def _add_hot_pixels(rng: np.random.Generator, brightness: np.ndarray, error: np.ndarray,
                    disk: np.ndarray, eligible: np.ndarray, gain: float) -> list[dict[str, Any]]:
    """Single pixels struck by energetic particles: bright, isolated, not aurora."""
    pool = eligible if eligible.any() else disk
    spots = np.argwhere(pool)
    records = []
    for index in rng.choice(len(spots), size=min(int(rng.integers(1, 6)), len(spots)),
                            replace=False):
        row, col = spots[index]
        value = rng.uniform(20, 300)
        brightness[row, col] = value
        error[row, col] = np.sqrt(value * gain) / gain
        records.append({"type": "hot_pixel", "integration": int(row), "slit_pixel": int(col),
                        "brightness_r": round(float(value), 1)})
    return records
