"""Mars's own size, the one value the catalogue, the evaluation and the synthetic scans share."""

MARS_RADIUS_KM = 3389.5
"""Mean volumetric radius (IAU/NASA fact sheet): the sphere the catalogue measures areas and
extents on and the generator draws its scans on, so the two agree to the kilometre."""
