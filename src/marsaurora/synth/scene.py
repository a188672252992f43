"""O I 130.4 nm brightness of a synthetic scan, with its ground truth.

Physics (``shared/docs/emus-l2b-format.md``): the dayside falls with solar
zenith angle and brightens towards the limb (longer optically thin path),
a dayglow tail reaches past the terminator (the upper atmosphere stays
sunlit), a sunlit limb glows above the disk, the nightside airglow sits at
0.01-1 R and brightens towards the limb, and discrete auroras take one of
the published morphologies (spots, over the crustal fields when those are in
view; patch clusters; arcs, straight, curved or sinuous, often starting
near the terminator). Counts are Poisson, and ``RAD_ERR_RAND`` obeys
``counts = (R / err)**2``. How widely each of these is drawn is a
:class:`~marsaurora.synth.ranges.SceneRanges`.

Scenarios name what a file is meant to test: ``aurora``, ``quiet_night``
(night disk, no aurora), ``dayside`` and ``crescent`` (a bright sunlit limb
next to a dark disk). Hot pixels and missing integrations are added to any
scenario as hard negatives.
"""

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from marsaurora.mars import unit_vectors
from marsaurora.synth import aurora as shapes
from marsaurora.synth.geometry import (ScanGeometry, Viewpoint, angular_radius_deg,
                                       scan_geometry)
from marsaurora.synth.ranges import TRAIN, SceneRanges

SCENARIOS = ("aurora", "quiet_night", "dayside", "crescent")
DEFAULT_MIX = {"aurora": 0.45, "quiet_night": 0.25, "dayside": 0.15, "crescent": 0.15}
AURORA_TYPES = ("spot", "patchy", "arc")
CRUSTAL_LAT_DEG = (-75.0, -25.0)
CRUSTAL_LON_DEG = (150.0, 210.0)
EDGE_EMISSION_DEG = 65.0
EDGE_SZA_MARGIN_DEG = 10.0
"""With ``edge_bias``, anchors go to emission angles above 65 deg or within 10 deg of the
nearest SZA allowed."""
MIN_SEPARATION_PX = 3
"""Auroras of one scene are kept this many pixels apart, so each is one feature."""
# Pixels an aurora adds at least this much to (R, or fraction of its pixel peak) form its extent.
EXTENT_MIN_R = 0.5
EXTENT_PEAK_FRACTION = 0.2


@dataclass
class InjectedAurora:
    """One injected aurora, as ``truth.jsonl`` reports it."""

    type: str
    lat_deg: float
    lon_deg: float
    """Centroid of the light it adds to the scan, on the planet: where the catalogue's
    excess-weighted centroid should land. Below the slant cap this is also the centroid of its
    emission per area of ground (a pixel's light is its emission times its footprint)."""
    peak_r: float
    """Intrinsic vertical peak brightness, R, before pixel dilution and slant brightening."""
    pixel_peak_r: float
    """The brightest pixel it adds to the scan, R."""
    size_km: float
    width_km: float
    pixel_extent: tuple[int, int, int, int]
    """Inclusive ``(first integration, last integration, first pixel, last pixel)``."""
    peak_pixel: tuple[int, int]
    emission_deg: float
    sza_deg: float
    """Emission and solar zenith angles at ``peak_pixel``."""
    profile: str
    form: str = ""
    crustal: bool = False
    snr: float = 0.0
    """Its summed excess over its extent against the Poisson noise there: how visible it is."""

    def to_record(self) -> dict[str, Any]:
        """JSON-ready truth entry."""
        record = {"type": self.type, "lat_deg": round(self.lat_deg, 3),
                  "lon_deg": round(self.lon_deg, 3), "peak_r": round(self.peak_r, 3),
                  "pixel_peak_r": round(self.pixel_peak_r, 3),
                  "size_km": round(self.size_km, 1), "width_km": round(self.width_km, 1),
                  "pixel_extent": list(self.pixel_extent), "peak_pixel": list(self.peak_pixel),
                  "emission_deg": round(self.emission_deg, 2), "sza_deg": round(self.sza_deg, 2),
                  "profile": self.profile, "crustal": self.crustal, "snr": round(self.snr, 1)}
        if self.form:
            record["form"] = self.form
        return record


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
               shape: tuple[int, int] | None = None, ranges: SceneRanges = TRAIN) -> Scene:
    """Draw a viewpoint for ``scenario`` and render its brightness.

    ``shape`` forces ``(nint, npix)``, e.g. a square scan to test readers;
    ``ranges`` sets how widely everything else is drawn.

    Raises
    ------
    ValueError
        If ``scenario`` is not one of :data:`SCENARIOS`.
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; choose from {SCENARIOS}")
    for _ in range(50):
        view = _draw_viewpoint(rng, scenario, shape, ranges)
        geometry = scan_geometry(view)
        scene = _render(rng, scenario, view, geometry, ranges)
        if scene is not None:
            return scene
    raise RuntimeError(f"could not draw a usable {scenario!r} scene in 50 tries")


def _draw_viewpoint(rng: np.random.Generator, scenario: str,
                    shape: tuple[int, int] | None, ranges: SceneRanges) -> Viewpoint:
    """Spacecraft and Sun placed so the disk shows what the scenario needs."""
    separation = {"aurora": (100, 175), "quiet_night": (100, 175),
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
    partial = rng.random() < ranges.partial_fraction
    distance = rng.uniform(*(ranges.near_distance_km if partial else ranges.far_distance_km))
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
            geometry: ScanGeometry, ranges: SceneRanges) -> Scene | None:
    centre = _centre(geometry)
    disk = np.isfinite(centre["lat_deg"])
    disk[:, 0] = False  # detector pixel 0 lies outside the slit
    if disk.sum() < 2000:
        return None
    secant = np.where(disk, 1.0 / np.maximum(np.cos(np.radians(centre["emission_deg"])),
                                             0.05), 1.0)
    dayside_peak = rng.uniform(150, 400) * (1.3 if scenario == "crescent" else 1.0)
    sza = np.nan_to_num(centre["sza_deg"], nan=180.0)
    sunlit = np.where(disk, sunlit_fraction(sza), 0.0)
    tail = (rng.uniform(*ranges.terminator_tail)
            * np.exp(-np.maximum(sza - 90.0, 0.0) / rng.uniform(*ranges.terminator_scale_deg)))
    dayside = dayside_peak * np.where(disk, sunlit + tail, 0.0) * np.sqrt(np.minimum(secant, 4.0))

    night_level = float(np.exp(rng.uniform(*np.log(ranges.night_background_r))))
    normal = _unit(centre["surface_km"])
    pattern_axis = unit_vectors(rng.uniform(-90, 90), rng.uniform(0, 360))
    ripple = 1.0 + rng.uniform(*ranges.night_ripple) * np.sin(
        rng.uniform(1.5, 4.0) * np.nan_to_num(normal @ pattern_axis) + rng.uniform(0, 2 * np.pi))
    night_slant = np.minimum(secant ** rng.uniform(*ranges.night_limb_power),
                             rng.uniform(*ranges.night_slant_cap))
    night = np.where(disk, night_level * ripple * night_slant, 0.0)

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
    eligible = (disk & (sza >= ranges.aurora_min_sza_deg)
                & (centre["emission_deg"] <= ranges.aurora_max_emission_deg) & ~missing[:, None])
    if scenario in ("aurora", "quiet_night") and eligible.sum() < 300:
        return None
    if scenario == "dayside" and (disk & (sza < 90)).sum() < 0.7 * disk.sum():
        return None

    auroras: list[InjectedAurora] = []
    footprints: list[tuple[np.ndarray, np.ndarray]] = []
    aurora_map = np.zeros(disk.shape)
    if scenario == "aurora":
        context = _AuroraContext(centre=centre, normal=normal, disk=disk, eligible=eligible,
                                 secant=secant,
                                 footprint=shapes.footprint_km(geometry.surface_km), ranges=ranges)
        taken = np.zeros(disk.shape, dtype=bool)
        for _ in range(_aurora_count(rng)):
            injected = _inject_aurora(rng, context, taken)
            if injected is not None:
                truth, added, extent = injected
                auroras.append(truth)
                footprints.append((added, extent))
                aurora_map += added
                taken |= _grown(extent, MIN_SEPARATION_PX)
        if not auroras:
            return None

    gain = rng.uniform(*ranges.gain_counts_per_r)
    truth_brightness = dayside + night + limb + aurora_map
    counts = rng.poisson(gain * truth_brightness).astype(np.float64)
    for truth, (added, extent) in zip(auroras, footprints, strict=True):
        truth.snr = float(added[extent].sum() / np.sqrt(truth_brightness[extent].sum() / gain))
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


@dataclass(frozen=True)
class _AuroraContext:
    """What placing an aurora needs to know about the scan."""

    centre: dict[str, np.ndarray]
    normal: np.ndarray
    disk: np.ndarray
    eligible: np.ndarray
    secant: np.ndarray
    footprint: np.ndarray
    ranges: SceneRanges

    def pool(self, rng: np.random.Generator, taken: np.ndarray) -> np.ndarray:
        """Where an anchor may go: near the edges with probability ``edge_bias``."""
        free = self.eligible & ~taken
        if rng.random() < self.ranges.edge_bias:
            edge = free & ((self.centre["emission_deg"] >= EDGE_EMISSION_DEG)
                           | (self.centre["sza_deg"]
                              <= self.ranges.aurora_min_sza_deg + EDGE_SZA_MARGIN_DEG))
            if edge.sum() >= 5:
                return edge
        return free


def _inject_aurora(rng: np.random.Generator, context: _AuroraContext, taken: np.ndarray,
                   ) -> tuple[InjectedAurora, np.ndarray, np.ndarray] | None:
    """Place one aurora on the eligible night disk, clear of the pixels already ``taken``."""
    ranges, centre = context.ranges, context.centre
    kind = str(rng.choice(AURORA_TYPES))
    cross_section = str(rng.choice(ranges.profiles))
    peak = shapes.draw(rng, ranges.peak_r, log=True)
    cap = rng.uniform(*ranges.aurora_slant_cap)
    for _ in range(20):
        shape = _draw_shape(rng, kind, cross_section, context, taken)
        if shape is None or shape.values.max() <= 0.05:
            continue
        values = np.where(context.disk, shape.values, 0.0)
        if values[context.eligible].sum() < 0.6 * values.sum():
            continue
        added = peak * values * np.minimum(context.secant, cap)
        extent = added >= max(EXTENT_MIN_R, EXTENT_PEAK_FRACTION * added.max())
        if not extent.any() or (extent & taken).any():
            continue
        rows, cols = np.nonzero(extent)
        peak_pixel = np.unravel_index(np.argmax(added), added.shape)
        centroid = _unit((added[..., None] * np.nan_to_num(context.normal)).sum(axis=(0, 1)))
        truth = InjectedAurora(
            type=kind, lat_deg=float(np.degrees(np.arcsin(centroid[2]))),
            lon_deg=float(np.degrees(np.arctan2(centroid[1], centroid[0])) % 360),
            peak_r=peak, pixel_peak_r=float(added.max()), size_km=shape.length_km,
            width_km=shape.width_km,
            pixel_extent=(int(rows.min()), int(rows.max()), int(cols.min()), int(cols.max())),
            peak_pixel=(int(peak_pixel[0]), int(peak_pixel[1])),
            emission_deg=float(centre["emission_deg"][peak_pixel]),
            sza_deg=float(centre["sza_deg"][peak_pixel]),
            profile=cross_section, form=shape.form, crustal=shape.crustal)
        return truth, added, extent
    return None


def _draw_shape(rng: np.random.Generator, kind: str, cross_section: str,
                context: _AuroraContext, taken: np.ndarray) -> shapes.Shape | None:
    """One candidate shape of ``kind``, anchored somewhere allowed."""
    ranges, normal, footprint = context.ranges, context.normal, context.footprint
    if kind == "arc":
        return _arc_shape(rng, cross_section, context, taken)
    pool = context.pool(rng, taken)
    crustal = pool & _crustal(context.centre)
    on_crust = kind == "spot" and crustal.sum() >= 20 and rng.random() < 0.5
    choices = np.argwhere(crustal if on_crust else pool)
    if choices.size == 0:
        return None
    anchor = normal[tuple(choices[rng.integers(len(choices))])]
    if kind == "spot":
        width = shapes.draw(rng, ranges.spot_width_deg) * shapes.KM_PER_DEG
        return shapes.Shape(shapes.spot(normal, footprint, anchor, width, cross_section),
                            kind, width, width, crustal=bool(on_crust))
    spread = rng.uniform(*ranges.patch_spread_km)
    values = shapes.patches(
        rng, normal, footprint, anchor, int(rng.integers(ranges.patch_blobs[0],
                                                         ranges.patch_blobs[1] + 1)),
        spread, lambda: shapes.draw(rng, ranges.patch_blob_width_deg) * shapes.KM_PER_DEG,
        cross_section)
    return shapes.Shape(values, kind, width_km=spread, length_km=2 * spread)


def _arc_shape(rng: np.random.Generator, cross_section: str, context: _AuroraContext,
               taken: np.ndarray) -> shapes.Shape | None:
    """An arc from near the terminator into the night, or from anywhere in any direction."""
    ranges, centre, normal = context.ranges, context.centre, context.normal
    free = context.eligible & ~taken
    near_terminator = free & (centre["sza_deg"] <= ranges.aurora_min_sza_deg + 15.0)
    deep = context.disk & (centre["sza_deg"] > 125)
    if rng.random() < 0.5 and near_terminator.sum() >= 5 and deep.sum() >= 5:
        start = normal[tuple(rng.choice(np.argwhere(near_terminator)))]
        towards = _unit(np.nan_to_num(normal[deep]).mean(axis=0))
        heading = _unit(towards - (towards @ start) * start)
        heading = _unit(heading + rng.normal(0.0, 0.4) * np.cross(start, heading))
    else:
        pool = context.pool(rng, taken)
        if pool.sum() == 0:
            return None
        start = normal[tuple(rng.choice(np.argwhere(pool)))]
        east = _unit(np.cross([0.0, 0.0, 1.0], start))
        bearing = rng.uniform(0, 2 * np.pi)
        heading = np.cos(bearing) * east + np.sin(bearing) * np.cross(start, east)
    width = shapes.draw(rng, ranges.arc_width_deg) * shapes.KM_PER_DEG
    length = rng.uniform(*ranges.arc_length_km)
    form = str(rng.choice(ranges.arc_forms))
    values = shapes.arc(rng, normal, context.footprint, context.disk, start, heading,
                        length_km=length, width_km=width, form=form, kind=cross_section)
    return shapes.Shape(values, "arc", width, length, form=form)


def _crustal(centre: dict[str, np.ndarray]) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return ((centre["lat_deg"] >= CRUSTAL_LAT_DEG[0])
                & (centre["lat_deg"] <= CRUSTAL_LAT_DEG[1])
                & (centre["lon_deg"] >= CRUSTAL_LON_DEG[0])
                & (centre["lon_deg"] <= CRUSTAL_LON_DEG[1]))


def _grown(mask: np.ndarray, pixels: int) -> np.ndarray:
    """``mask`` dilated by ``pixels`` in every direction (a square neighbourhood)."""
    kernel = np.ones((2 * pixels + 1, 2 * pixels + 1), np.uint8)
    return cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)


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
