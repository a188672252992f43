"""Viewing geometry of a slit scanned across a spherical Mars.

Everything is computed in a Mars-fixed frame (x towards 0 E on the equator,
z towards the north pole). The slit lies along one instrument axis; each
integration steps the slit across the disk along the other, so the scan is
an ``(nint, npix)`` grid of lines of sight, each with five FOV points: the
pixel centre then its lower-left, lower-right, upper-right and upper-left
corners, as most EMUS readers order them.
"""

from dataclasses import dataclass

import numpy as np

from marsaurora.mars import MARS_RADIUS_KM, unit_vectors

SLIT_FOV_DEG = 10.75

# (slit, scan) offsets of the five FOV points, in half-pixel units.
_POINT_OFFSETS = np.array([[0, 0], [-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=np.float64)


@dataclass(frozen=True)
class Viewpoint:
    """Where the spacecraft and the Sun are, and how the slit is laid."""

    sc_distance_km: float
    sub_sc_lat_deg: float
    sub_sc_lon_deg: float
    sub_solar_lat_deg: float
    sub_solar_lon_deg: float
    roll_deg: float
    slit_offset_deg: float
    scan_start_deg: float
    scan_step_deg: float
    nint: int
    npix: int

    @property
    def spacecraft_km(self) -> np.ndarray:
        """Spacecraft position, km, Mars-fixed."""
        return self.sc_distance_km * unit_vectors(self.sub_sc_lat_deg, self.sub_sc_lon_deg)

    @property
    def sun_direction(self) -> np.ndarray:
        """Unit vector from Mars towards the Sun."""
        return unit_vectors(self.sub_solar_lat_deg, self.sub_solar_lon_deg)


def angular_radius_deg(sc_distance_km: float) -> float:
    """Apparent angular radius of the disk from a distance to Mars' centre."""
    return float(np.degrees(np.arcsin(MARS_RADIUS_KM / sc_distance_km)))


def lines_of_sight(view: Viewpoint) -> np.ndarray:
    """Unit look directions, ``(nint, 5, npix, 3)``."""
    boresight = -view.spacecraft_km / np.linalg.norm(view.spacecraft_km)
    helper = np.array([0.0, 0.0, 1.0]) if abs(boresight[2]) < 0.9 else np.array([1.0, 0, 0])
    slit0 = np.cross(boresight, helper)
    slit0 /= np.linalg.norm(slit0)
    scan0 = np.cross(boresight, slit0)
    roll = np.radians(view.roll_deg)
    slit_axis = np.cos(roll) * slit0 + np.sin(roll) * scan0
    scan_axis = np.cross(boresight, slit_axis)

    pixel_deg = SLIT_FOV_DEG / view.npix
    pixel = np.arange(view.npix) - (view.npix - 1) / 2.0
    integration = np.arange(view.nint)
    slit_angle = (view.slit_offset_deg + pixel[None, None, :] * pixel_deg
                  + _POINT_OFFSETS[None, :, 0, None] * pixel_deg / 2)
    scan_angle = (view.scan_start_deg + integration[:, None, None] * view.scan_step_deg
                  + _POINT_OFFSETS[None, :, 1, None] * view.scan_step_deg / 2)
    slit_angle, scan_angle = np.broadcast_arrays(slit_angle, scan_angle)
    directions = (boresight + np.tan(np.radians(slit_angle))[..., None] * slit_axis
                  + np.tan(np.radians(scan_angle))[..., None] * scan_axis)
    return directions / np.linalg.norm(directions, axis=-1, keepdims=True)


@dataclass(frozen=True)
class ScanGeometry:
    """Per-point geometry, each ``(nint, 5, npix)`` unless noted; NaN off disk."""

    lat_deg: np.ndarray
    lon_deg: np.ndarray
    sza_deg: np.ndarray
    emission_deg: np.ndarray
    phase_deg: np.ndarray
    local_time_h: np.ndarray
    mrh_alt_km: np.ndarray
    ra_deg: np.ndarray
    dec_deg: np.ndarray
    surface_km: np.ndarray
    """``(nint, 5, npix, 3)`` surface intersection, NaN off disk."""
    look: np.ndarray
    """``(nint, 5, npix, 3)`` unit line of sight."""
    tangent_sza_deg: np.ndarray
    """Solar zenith angle at the minimum-ray-height point (limb glow)."""


def scan_geometry(view: Viewpoint) -> ScanGeometry:
    """Intersect every line of sight with the sphere and derive the angles."""
    look = lines_of_sight(view)
    sc = view.spacecraft_km
    sun = view.sun_direction
    along = look @ sc
    closest = np.sqrt(np.maximum(sc @ sc - along**2, 0.0))
    discriminant = along**2 - (sc @ sc - MARS_RADIUS_KM**2)
    hit = (discriminant >= 0) & (along < 0)
    distance = np.where(hit, -along - np.sqrt(np.where(hit, discriminant, 0.0)), np.nan)
    surface = sc + distance[..., None] * look
    normal = surface / MARS_RADIUS_KM

    tangent = sc + (-along)[..., None] * look
    tangent_dir = tangent / np.linalg.norm(tangent, axis=-1, keepdims=True)

    lat = np.degrees(np.arcsin(np.clip(normal[..., 2], -1, 1)))
    lon = np.degrees(np.arctan2(normal[..., 1], normal[..., 0])) % 360.0
    sub_solar_lon = view.sub_solar_lon_deg
    return ScanGeometry(
        lat_deg=lat,
        lon_deg=lon,
        sza_deg=_angle(normal @ sun),
        emission_deg=_angle(np.einsum("...k,...k->...", normal, -look)),
        phase_deg=np.where(hit, _angle(-look @ sun), np.nan),
        local_time_h=((lon - sub_solar_lon) / 15.0 + 12.0) % 24.0,
        mrh_alt_km=closest - MARS_RADIUS_KM,
        ra_deg=np.degrees(np.arctan2(look[..., 1], look[..., 0])) % 360.0,
        dec_deg=np.degrees(np.arcsin(np.clip(look[..., 2], -1, 1))),
        surface_km=surface,
        look=look,
        tangent_sza_deg=_angle(tangent_dir @ sun),
    )


def _angle(cosine: np.ndarray) -> np.ndarray:
    return np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))
