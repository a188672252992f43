"""Connected regions of excess brightness: the features the screen, fusion and the catalogue
read, and how significant each is.

A feature is a connected region of grown pixels holding at least one seed
(:mod:`marsaurora.classify.seeds`), joined across narrow gaps in the data and along the
line of a thin arc (:mod:`marsaurora.classify.joining`). Features take one pass over the
scan (labels, ``bincount`` sums), so the cost grows with the number of pixels, not with the
number of features; at most :data:`MAX_FEATURES` features, the most significant, are kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from marsaurora.classify.joining import joined_along_arcs
from marsaurora.classify.seeds import ARC_SEED_PX, ArcSeeds, Seeds, seed_sums

LIMB_MISFIT_FRACTION = 0.05
"""Beyond :data:`~marsaurora.classify.seeds.WIDE_SEED_MAX_EMISSION_DEG` a feature's significance is
at most its summed excess over this fraction of the background summed under it
(:func:`_significance`): at the 10 sigma of an aurora without a box, half as bright again as its
background on average. There a cell of the background surface holds a few pixels from far apart on
the planet, and the model misses by some percent over whole regions: a misfit the Poisson noise
hides at our gains (1-8 counts per rayleigh) but not in cleaner scans, and one that does not average
down as a feature grows. Without it, at 10-40 counts per rayleigh, 13 of 200 aurora-free scans
redrawn by other night-glow laws passed the screen (up to 105 sigma, 12-45% over the background on
average), at 50-150 26; with it 2 and 2. Of our own scans at those gains (480), 6 aurora-free ones
passed, none with it; of 503 aurora observations on validation and the OOD calibration sets, one
lost its candidates (two features of 17 and 12 sigma, 26-36% over a limb of 18-35 R)."""
CLEAR_VIEW_MISFIT_FRACTION = 0.01
"""Up to :data:`~marsaurora.classify.seeds.WIDE_SEED_MAX_EMISSION_DEG` the same bound with this
fraction: a feature at the 10 sigma of an aurora without a box stands a tenth over its background on
average. Out of the training ranges at 10-40 counts per rayleigh, dayglow-tail misfits in the
terminator band (3-7% over 6-31 R) passed the screen; aurora features on our sets stand 18% or more
over theirs."""
MAX_FEATURES = 50
MAX_BRIDGED_GAP_PX = 4
"""Widest stripe of missing data (integrations or detector lines) a feature is joined across."""


@dataclass(frozen=True)
class Feature:
    """One connected region of excess brightness.

    Ranges are inclusive detector indices of the whole region; the numbers
    are over its seed pixels.
    """

    label: int
    """Its value in :attr:`ExcessMap.labels`."""
    significance: float
    peak_excess_r: float
    peak_pixel: tuple[int, int]
    seed_pixels: int
    area_px: int
    integration_range: tuple[int, int]
    slit_pixel_range: tuple[int, int]
    clean_night: bool
    """Whether its peak is in the clean night
    (:data:`~marsaurora.classify.excess.CLEAN_NIGHT_SZA_MARGIN_DEG`)."""
    past_terminator: bool
    """Whether its peak is past the terminator band (solar zenith angle
    :data:`~marsaurora.classify.excess.CLEAN_NIGHT_SZA_MARGIN_DEG` past the search's edge), where
    the background under it is night glow, not the dayglow tail."""
    contrast: float
    """Its summed excess over the background summed under its pixels: how far it stands out of
    the night glow, whatever its counts make of its significance."""


@dataclass(frozen=True, eq=False)
class FeatureMap:
    """The features of an excess map and the excess under them: all that fusion and the
    catalogue read of it, and what the event chain carries from classify to catalog."""

    excess_r: np.ndarray
    """``(nint, npix)`` despiked excess, R; 0 outside the searched pixels."""
    labels: np.ndarray
    """``(nint, npix)`` int32: the feature each pixel belongs to, 0 for none."""
    features: tuple[Feature, ...]
    """Most significant first."""

    def pixels(self, *features: Feature) -> tuple[np.ndarray, np.ndarray]:
        """Detector ``(rows, cols)`` of the given features."""
        return np.nonzero(np.isin(self.labels, [feature.label for feature in features]))

    @property
    def strongest_significance(self) -> float:
        """The most significant feature's significance (sigma); 0 without features."""
        return max((feature.significance for feature in self.features), default=0.0)



def connected_features(seeded: Seeds, arcs: ArcSeeds, sigma: np.ndarray, gaps: np.ndarray,
                       past_terminator: np.ndarray, background: np.ndarray,
                       clear_view: np.ndarray) -> tuple[np.ndarray, tuple[Feature, ...], int]:
    """Connected regions holding a seed, their numbers in one pass, the strongest kept.

    A feature's significance is the best of four sums: over its 3x3 seeds, over its 3x3 and
    wide seeds (the faint wide seeds around a compact aurora would otherwise dilute it), over
    the pixels of its bright groups (a spot of a few bright pixels makes every pixel around it
    a 3x3 seed, and their noise diluted its own pixels' evidence: an 88 R spot over 1 x 3
    pixels read 7.0 sigma over its seeds and 19 over its pixels), and, when it holds at least
    :data:`ARC_SEED_PX` arc seeds, the clipped residuals of those (the despiker has cut the
    dashes of a thin arc out of the excess; the clip keeps hot pixels from counting). Arc seeds
    stay out of the other sums: lines through a bright spot reach
    :data:`~marsaurora.classify.seeds.ARC_SEED_Z` around it, and their faint pixels took a
    10.6-sigma spot under 10. Regions on both sides of a gap in the data (``gaps``: missing
    integrations, bad detector lines) up to :data:`MAX_BRIDGED_GAP_PX` wide are one feature: a
    stripe of missing data does not cut an arc in two, and nor does a stretch of the arc itself
    that noise took under the growing threshold: pieces of a thin arc lying end to end along
    one line are one feature (:func:`~marsaurora.classify.joining.joined_along_arcs`), as
    significant as its pieces together or as its most significant piece, whichever is more:
    joining never hides evidence (at 40 counts per rayleigh, a terminator aurora of 11.9 sigma
    joined to a band of dayglow-tail misfit along it read 9.3 within the misfit bound).
    The gap's pixels stay out of the feature.
    A significance is also at most the summed excess over a fraction of the background under
    it, the background model's misfit: :data:`LIMB_MISFIT_FRACTION` where the feature peaks
    beyond the clear view, :data:`CLEAR_VIEW_MISFIT_FRACTION` within it.
    """
    grown = seeded.grown | arcs.pixels | arcs.grown
    span = 2 * (MAX_BRIDGED_GAP_PX // 2) + 1
    near = cv2.dilate(grown.astype(np.uint8), np.ones((span, span), np.uint8)) > 0
    bridges = gaps & near & ~grown
    count, pieces = cv2.connectedComponents((grown | bridges).astype(np.uint8), connectivity=8)
    pieces[bridges] = 0
    joined = joined_along_arcs(pieces, count)
    labels, joined_count = joined[pieces], int(joined.max()) + 1
    significance, peak, peak_pixels, seed_count, contrast = _significance(
        labels, joined_count, seeded, arcs, sigma, background, clear_view)
    if joined_count < count:
        np.maximum.at(significance, joined, _significance(pieces, count, seeded, arcs, sigma,
                                                          background, clear_view)[0])
    count = joined_count
    boxes = _label_boxes(labels, count)
    seeded_labels = np.flatnonzero(seed_count > 0)
    seeded_labels = seeded_labels[seeded_labels > 0]
    strongest = seeded_labels[np.argsort(-significance[seeded_labels],
                                         kind="stable")][:MAX_FEATURES]
    relabel = np.zeros(count, dtype=np.int32)
    features = []
    for new_label, old in enumerate(strongest, start=1):
        relabel[old] = new_label
        x, y, width, height, area = (int(v) for v in boxes[old])
        peak_pixel = (int(peak_pixels[old, 0]), int(peak_pixels[old, 1]))
        features.append(Feature(
            label=new_label, significance=float(significance[old]), peak_excess_r=float(peak[old]),
            peak_pixel=peak_pixel, seed_pixels=int(seed_count[old]), area_px=area,
            integration_range=(y, y + height - 1), slit_pixel_range=(x, x + width - 1),
            clean_night=bool(clear_view[peak_pixel] & past_terminator[peak_pixel]),
            past_terminator=bool(past_terminator[peak_pixel]), contrast=float(contrast[old])))
    return relabel[labels], tuple(features), int(seeded_labels.size)


def _significance(labels: np.ndarray, count: int, seeded: Seeds, arcs: ArcSeeds,
                  sigma: np.ndarray, background: np.ndarray, clear_view: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per label: its significance (the best of the four sums, within the misfit bound), its
    seeds' brightest excess, that seed's (row, column), how many seeds it holds, and its
    summed excess over the background under it (the contrast the misfit bound divides)."""
    excess = seeded.excess
    narrow = seed_sums(labels, seeded.seeds, excess, sigma, count)[0]
    widest = seed_sums(labels, seeded.seeds | seeded.wide, excess, sigma, count)[0]
    core = seed_sums(labels, seeded.core & seeded.grown, excess, sigma, count)[0]
    every = seeded.seeds | seeded.wide | arcs.pixels
    _, peak, peak_at, seed_count = seed_sums(labels, every, excess, sigma, count)
    significance = np.maximum.reduce([narrow, widest, core, _arc_sums(labels, arcs, count)])
    seeded_labels = np.flatnonzero(seed_count > 0)
    seed_rows, seed_cols = np.nonzero(every)
    misfit = np.full(count, CLEAR_VIEW_MISFIT_FRACTION)
    misfit[seeded_labels] = np.where(clear_view[seed_rows[peak_at[seeded_labels]],
                                                seed_cols[peak_at[seeded_labels]]],
                                     CLEAR_VIEW_MISFIT_FRACTION, LIMB_MISFIT_FRACTION)
    contrast = _excess_over_background(labels, excess, background, count)
    significance = np.minimum(significance, contrast / misfit)
    peak_pixels = (np.stack([seed_rows, seed_cols], axis=1)[peak_at] if seed_rows.size
                   else np.zeros((count, 2), dtype=np.int64))
    return significance, peak, peak_pixels, seed_count, contrast


def _excess_over_background(labels: np.ndarray, excess: np.ndarray, background: np.ndarray,
                            count: int) -> np.ndarray:
    """Per label: its summed excess over the background summed over its pixels; infinite
    where no background lies under it."""
    inside = labels > 0
    total = np.bincount(labels[inside], weights=excess[inside], minlength=count)
    under = np.bincount(labels[inside], weights=background[inside], minlength=count)
    return np.where(under > 0, total / np.where(under > 0, under, 1.0), np.inf)


def _arc_sums(labels: np.ndarray, arcs: ArcSeeds, count: int) -> np.ndarray:
    """Per label: its arc seeds' clipped residuals summed, in units of their noise; 0 with
    fewer than :data:`ARC_SEED_PX` arc seeds."""
    arc_label = labels[arcs.pixels]
    arc_count = np.bincount(arc_label, minlength=count)
    total = np.bincount(arc_label, weights=arcs.clipped_z[arcs.pixels], minlength=count)
    return np.where(arc_count >= ARC_SEED_PX, total / np.sqrt(np.maximum(arc_count, 1)), 0.0)


def _label_boxes(labels: np.ndarray, count: int) -> np.ndarray:
    """Per label: ``(x, y, width, height, area)`` of its pixels, as OpenCV's stats give them."""
    rows, cols = np.nonzero(labels)
    which = labels[rows, cols]
    first = np.tile(np.array(labels.shape), (count, 1))
    last = np.full((count, 2), -1)
    for axis, index in enumerate((rows, cols)):
        np.minimum.at(first[:, axis], which, index)
        np.maximum.at(last[:, axis], which, index)
    size = last - first + 1
    area = np.bincount(which, minlength=count)
    return np.stack([first[:, 1], first[:, 0], size[:, 1], size[:, 0], area], axis=1)


