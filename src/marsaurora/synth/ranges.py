"""How widely the generator draws its scenes: the training ranges and an out-of-distribution set.

A detector that only ever sees one kind of aurora learns that kind. The
``train`` ranges therefore cover what ``shared/docs/emus-l2b-format.md``
says real scans may show: arcs 0.5-3 deg wide (straight, curved and
sinuous, short or crossing the disk), spots 1-6 deg, patch clusters, peaks
of 2-60 R anywhere on the night disk (limb and terminator band included),
night airglow of 0.01-1 R with a limb brightening whose law varies, a
dayglow tail past the terminator, and noise levels from quiet to poor.

The ``ood`` ranges were fixed before any result was looked at, and lie
outside the training ranges on purpose: widths the detector never saw,
brightness profiles that are not Gaussian, auroras crowded to the limb and
the terminator, brighter and lumpier night backgrounds, steeper limb
brightening and noisier counts. A score on them says how well the pipeline
generalizes, which no score on the training distribution can.

Sizes are full widths at half maximum in degrees of great circle on Mars
(1 deg is 59.2 km).
"""

from dataclasses import dataclass, replace

Interval = tuple[float, float]


@dataclass(frozen=True)
class SceneRanges:
    """Every distribution a synthetic scene is drawn from.

    A field holding several intervals draws one of them at random, then a
    value inside it (log-uniform for brightness, uniform otherwise).
    """

    peak_r: tuple[Interval, ...] = ((2.0, 60.0),)
    """Vertical peak brightness of an aurora, R (before slant brightening)."""
    arc_width_deg: tuple[Interval, ...] = ((0.5, 3.0),)
    arc_length_km: Interval = (300.0, 4000.0)
    arc_forms: tuple[str, ...] = ("straight", "curved", "sinuous")
    spot_width_deg: tuple[Interval, ...] = ((1.0, 6.0),)
    patch_blob_width_deg: tuple[Interval, ...] = ((1.0, 4.0),)
    patch_spread_km: Interval = (120.0, 400.0)
    patch_blobs: tuple[int, int] = (3, 8)
    profiles: tuple[str, ...] = ("gaussian",)
    """Cross-section of an aurora: ``gaussian``, ``exponential`` or ``flat`` (flat-topped)."""
    aurora_min_sza_deg: float = 100.0
    aurora_max_emission_deg: float = 85.0
    edge_bias: float = 0.0
    """Chance that an aurora is anchored near the limb or the terminator, not anywhere."""
    aurora_slant_cap: Interval = (2.0, 4.0)
    """Most an aurora is brightened by its slant path near the limb."""
    night_background_r: Interval = (0.01, 1.0)
    night_ripple: Interval = (0.0, 0.35)
    """Relative amplitude of large-scale structure in the night airglow."""
    night_limb_power: Interval = (0.5, 1.0)
    """Night airglow brightens as ``(1 / cos e) ** power``, capped by ``night_slant_cap``."""
    night_slant_cap: Interval = (2.5, 6.0)
    terminator_tail: Interval = (0.0, 0.15)
    """Dayglow past the terminator at SZA 90, as a fraction of the dayside peak."""
    terminator_scale_deg: Interval = (2.0, 6.0)
    """e-folding of that tail in SZA: the upper atmosphere stays sunlit past 90 deg."""
    gain_counts_per_r: Interval = (1.5, 8.0)
    """Counts per rayleigh: how noisy the scan is (Poisson)."""
    near_distance_km: Interval = (22000.0, 31000.0)
    far_distance_km: Interval = (33000.0, 46000.0)
    partial_fraction: float = 0.25
    """Share of scans taken close in, where the disk overflows the scan (clipped disks)."""


TRAIN = SceneRanges()

OOD = SceneRanges(
    peak_r=((1.2, 90.0),),
    arc_width_deg=((0.3, 0.5), (3.0, 4.5)),
    arc_length_km=(200.0, 5000.0),
    spot_width_deg=((0.7, 1.0), (6.0, 8.0)),
    patch_blob_width_deg=((0.5, 1.0), (4.0, 6.0)),
    patch_spread_km=(400.0, 700.0),
    patch_blobs=(6, 12),
    profiles=("exponential", "flat"),
    aurora_min_sza_deg=97.0,
    aurora_max_emission_deg=85.0,
    edge_bias=0.6,
    aurora_slant_cap=(4.0, 6.0),
    night_background_r=(0.4, 1.5),
    night_ripple=(0.35, 0.6),
    night_limb_power=(1.0, 1.2),
    night_slant_cap=(6.0, 8.0),
    terminator_tail=(0.15, 0.25),
    terminator_scale_deg=(6.0, 8.0),
    gain_counts_per_r=(1.0, 1.5),
)

OOD_AURORA_FIELDS = ("peak_r", "arc_width_deg", "arc_length_km", "spot_width_deg",
                     "patch_blob_width_deg", "patch_spread_km", "patch_blobs", "profiles",
                     "aurora_min_sza_deg", "edge_bias", "aurora_slant_cap")
"""What the ``ood`` ranges change in the auroras themselves."""
OOD_GLOW_FIELDS = ("night_background_r", "night_ripple", "night_limb_power", "night_slant_cap",
                   "terminator_tail", "terminator_scale_deg")
"""What the ``ood`` ranges change in the night glow and the dayglow tail under the auroras."""
OOD_AURORAS = replace(TRAIN, **{name: getattr(OOD, name) for name in OOD_AURORA_FIELDS})
"""The ``ood`` auroras over the training ranges' glow, at their noise: which part of the
out-of-distribution gap the auroras make (docs/screens.md)."""
OOD_GLOW = replace(TRAIN, **{name: getattr(OOD, name) for name in OOD_GLOW_FIELDS})
"""The training ranges' auroras over the ``ood`` glow, at their noise."""
RANGES = {"train": TRAIN, "ood": OOD, "ood-auroras": OOD_AURORAS, "ood-glow": OOD_GLOW}
"""Named range sets, as ``aurora synth --ranges`` chooses them."""
