"""Mars's own size and points on it: what the catalogue, the evaluation and the synthetic scans
share."""

import numpy as np

MARS_RADIUS_KM = 3389.5
"""Mean volumetric radius (IAU/NASA fact sheet): the sphere the catalogue measures areas and
extents on and the generator draws its scans on, so the two agree to the kilometre."""


def unit_vectors(lat_deg: np.ndarray | float, lon_deg: np.ndarray | float) -> np.ndarray:
    """Planetocentric latitudes and east longitudes (deg) as unit vectors, on a last axis of
    3."""
    lat, lon = np.radians(lat_deg), np.radians(lon_deg)
    return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=-1)
