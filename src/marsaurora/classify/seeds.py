"""Where features start and grow: the despiked excess and its seeds at three scales.

A seed is a pixel whose neighbourhood stands :data:`SEED_Z` sigma over the background:
on the 3x3 mean everywhere searched, on the :data:`WIDE_SEED_PX` mean where the view is
clear (a wide patch too faint in every pixel), and along lines in the clean night (an arc
thinner than a pixel). Hot pixels are taken down to their neighbours' level first
(:func:`_despiked_excess`). What the seeds add up to is :func:`seed_sums`; which pixels
make one feature is :mod:`marsaurora.classify.features`.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import cv2
import numpy as np

SEED_Z = 4.0
WIDE_SEED_PX = 7
WIDE_SEED_MAX_EMISSION_DEG = 60.0
"""Wide seeds are looked for only up to this emission angle, where the format page's clean
night background statistics hold; the 3x3 seeds go up to the limb."""
ARC_SEED_PX = 9
ARC_ORIENTATIONS = 8
ARC_SEED_Z = 4.5
ARC_CLIP_Z = 4.0
"""Arc seeds: pixels where the mean of the residuals along a line :data:`ARC_SEED_PX` pixels
long, in one of :data:`ARC_ORIENTATIONS` directions, reaches :data:`ARC_SEED_Z` sigma, each
pixel's residual first clipped to :data:`ARC_CLIP_Z` sigma. An arc thinner than a pixel lies
along one row of pixels, brighter where it is centred in a row and fainter where it crosses
between two: a dash line that a square mean dilutes and the despiker cuts into 1-3 pixel
pieces. Along its own direction the line mean adds the whole dash line; the clip keeps a hot
pixel (or a pair) from making a line on its own."""
ARC_GROW_Z = 3.0
"""Along a line this many sigma, pixels join an arc's feature: the stretches between its
dashes where noise took the line under :data:`ARC_SEED_Z` would otherwise cut it in pieces."""
FOUND_SIGNIFICANCE = 10.0
"""A 3x3 feature this significant (an aurora without a box outside the clean night) is found:
the wide mean leaves it out, and the excess map's first pass fits again without it
(:func:`marsaurora.classify.excess.excess_map`)."""
GROW_Z = 2.5
GROW_EXCESS_FRACTION = 0.25

SPIKE_GROUP_PX = 3
"""A pixel in a group of this many pixels or more, each at :data:`SEED_Z` sigma over the
background and touching the next along an edge, is emission, never a hot pixel. The hot-pixel
test looks at one pixel and its neighbours: a compact spot spread over three pixels of one
integration has a single bright neighbour at each end, as a pair of particle hits does, so its
ends were cut to the background and its centre to the brighter end; what was left, its
brightest pixel, is what a feature's significance leaves out. A spot of 88 R over 1 x 3 pixels
read 0.8 sigma (OOD calibration 7301), one of 38 R 2.5 (7303). Edges, not corners: light from
a source reaches the pixels sharing an edge with it before those touching a corner, while
three particle hits that happen to touch are as likely to touch at a corner; counted at
corners too, four hot pixels in the small night corner of a validation dayside scan (three
touching, one of them by a corner) passed the screen at 94.8 sigma."""


class Seeds(NamedTuple):
    """Where features start and grow, and the excess they are measured on."""

    excess: np.ndarray
    """Despiked excess, R (:func:`_despiked_excess`)."""
    seeds: np.ndarray
    """Pixels at :data:`SEED_Z` sigma of the 3x3 mean."""
    wide: np.ndarray
    """Pixels at :data:`SEED_Z` sigma of the :data:`WIDE_SEED_PX` mean."""
    grown: np.ndarray
    """Pixels features grow through: the seeds and their surroundings."""
    found: np.ndarray
    """Pixels of the 3x3 features already at :data:`FOUND_SIGNIFICANCE`."""
    core: np.ndarray
    """Pixels of bright groups (:func:`_despiked_excess`): a compact aurora's own pixels."""


class ArcSeeds(NamedTuple):
    """Seeds along lines (:func:`arc_seeds`) and the residuals they are measured on."""

    pixels: np.ndarray
    grown: np.ndarray
    clipped_z: np.ndarray
    """Residual in sigma, not despiked, clipped to :data:`ARC_CLIP_Z`; 0 outside the search."""


def seeds_and_grown(brightness: np.ndarray, background: np.ndarray, sigma: np.ndarray,
                    searched: np.ndarray, min_excess_r: float, clear_view: np.ndarray
                    ) -> Seeds:
    """The despiked excess, its 3x3 and its wide seed pixels, and the pixels features grow
    through.

    Seeds are looked for at two scales: the 3x3 mean everywhere, and the
    :data:`WIDE_SEED_PX` mean where the view is clear (``clear_view``:
    emission angles up to :data:`WIDE_SEED_MAX_EMISSION_DEG`). The wide mean
    finds a patch too faint in every pixel for the 3x3 one; near the limb,
    where a background misfit is a band of a few percent along the edge,
    averaging would make that band as significant as an aurora. What the
    3x3 mean already found at :data:`FOUND_SIGNIFICANCE` is left out of the
    wide mean: around a bright arc the wide mean would only see that arc
    again, and grow it a halo three pixels wide. Those found pixels are
    returned too: the arc seeds leave them out as well.
    """
    excess, core = _despiked_excess(brightness, background, sigma, searched)
    smooth, count = mean_over(excess, searched, 3)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = smooth / (sigma / np.sqrt(count))
    seeds = searched & (z >= SEED_Z) & (smooth >= 0.5 * min_excess_r)
    grown = (searched & (z >= GROW_Z) & (smooth >= GROW_EXCESS_FRACTION * min_excess_r)
             | seeds)
    found = _found(grown, seeds, excess, sigma)
    wide = searched & clear_view & ~found
    smooth, count = mean_over(np.where(wide, excess, 0.0), wide, WIDE_SEED_PX)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = smooth / (sigma / np.sqrt(count))
    wide_seeds = wide & (z >= SEED_Z) & (smooth >= 0.5 * min_excess_r) & (excess > 0)
    grown |= (wide & (z >= GROW_Z) & (smooth >= GROW_EXCESS_FRACTION * min_excess_r)
              | wide_seeds)
    return Seeds(excess, seeds, wide_seeds, grown, found, core)


def arc_seeds(brightness: np.ndarray, background: np.ndarray, sigma: np.ndarray,
              searched: np.ndarray, min_excess_r: float) -> ArcSeeds:
    """Searched pixels on a line of :data:`ARC_SEED_PX` pixels, in some direction, whose
    clipped residuals sum to :data:`ARC_SEED_Z` times their noise and average half of
    ``min_excess_r`` (R) (the floor every seed has); pixels features grow through where they sum
    to :data:`ARC_GROW_Z` and average a quarter of it. A line with fewer than
    ``ARC_SEED_PX // 2`` pixels searched does not count.

    The floor in rayleigh keeps stray counts on a black night from lining up: with errors
    halved, a 0.06 R night read 6-9 sigma without it. Only the final pass looks for arc
    seeds: the first pass masks what it finds before the noise is measured, and in a scan
    whose errors understate its scatter, lines of noise would mask the very scatter that
    measurement is for (a +0.3 R, 0.05 R scatter variant of a validation crescent scan then
    read 11.2 sigma on the terminator band; 6.05 with them in the final pass only, as before
    arc seeds).
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        clipped_z = np.where(searched, np.clip((brightness - background) / sigma,
                                               -ARC_CLIP_Z, ARC_CLIP_Z), 0.0)
    seeds = np.zeros(searched.shape, bool)
    grown = np.zeros(searched.shape, bool)
    window = _around(searched, ARC_SEED_PX // 2)
    if window is None:
        return ArcSeeds(seeds, grown, clipped_z)
    values_z = clipped_z[window]
    values_r = values_z * sigma[window]
    inside = searched[window].astype(np.float64)
    for kernel in _line_kernels():
        count = _line_sums(inside, kernel)
        count = np.where(count >= ARC_SEED_PX // 2, count, np.inf)
        line_z = _line_sums(values_z, kernel) / np.sqrt(count)
        line_r = _line_sums(values_r, kernel) / count
        seeds[window] |= (line_z >= ARC_SEED_Z) & (line_r >= 0.5 * min_excess_r)
        grown[window] |= ((line_z >= ARC_GROW_Z)
                          & (line_r >= GROW_EXCESS_FRACTION * min_excess_r))
    return ArcSeeds(searched & seeds, searched & grown, clipped_z)


def _around(mask: np.ndarray, margin: int) -> tuple[slice, slice] | None:
    """The rows and columns holding ``mask``, ``margin`` more on each side (within the scan);
    None for an empty mask. The line sums are only needed there: the night is often a small
    part of the scan."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return (slice(max(rows[0] - margin, 0), rows[-1] + margin + 1),
            slice(max(cols[0] - margin, 0), cols[-1] + margin + 1))


def _line_sums(values: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``values`` summed over ``kernel`` centred on each pixel (zero beyond the scan)."""
    return cv2.filter2D(values, -1, kernel, borderType=cv2.BORDER_CONSTANT)


@functools.cache
def _line_kernels() -> tuple[np.ndarray, ...]:
    """One :data:`ARC_SEED_PX` square kernel per direction, 1 on the pixels a line through its
    centre crosses."""
    centre = ARC_SEED_PX // 2
    steps = np.linspace(-centre, centre, 4 * ARC_SEED_PX)
    kernels = []
    for index in range(ARC_ORIENTATIONS):
        angle = np.pi * index / ARC_ORIENTATIONS
        kernel = np.zeros((ARC_SEED_PX, ARC_SEED_PX))
        kernel[np.rint(centre + steps * np.sin(angle)).astype(int),
               np.rint(centre + steps * np.cos(angle)).astype(int)] = 1.0
        kernels.append(kernel)
    return tuple(kernels)


def _found(grown: np.ndarray, seeds: np.ndarray, excess: np.ndarray,
           sigma: np.ndarray) -> np.ndarray:
    """The pixels of the 3x3 regions whose seeds already make :data:`FOUND_SIGNIFICANCE`."""
    count, labels = cv2.connectedComponents(grown.astype(np.uint8), connectivity=8)
    significance = seed_sums(labels, seeds, excess, sigma, count)[0]
    found = significance >= FOUND_SIGNIFICANCE
    found[0] = False
    return found[labels]



def _despiked_excess(brightness: np.ndarray, background: np.ndarray, sigma: np.ndarray,
                     searched: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Excess over background, with isolated hot pixels replaced by their neighbours' level,
    and the pixels of bright groups (:data:`SPIKE_GROUP_PX`), which are never hot pixels.

    A pixel is a hot pixel when it stands more than 3 sigma, and more than
    half its own excess, above the second brightest of its eight
    neighbours. The second brightest, not the median: a thin arc one pixel
    wide (or a spot foreshortened to one integration at the limb) has two
    bright neighbours along itself and is kept, where a 3x3 median would
    erase it; a hot pixel, or a pair, has at most one. So do the ends of a
    spot three pixels long, which :data:`SPIKE_GROUP_PX` keeps.
    """
    filled = np.where(searched, brightness, background)
    padded = np.pad(filled, 1, mode="edge")
    rows, cols = np.nonzero(searched)
    neighbours = np.stack([padded[rows + 1 + di, cols + 1 + dj]
                           for di in (-1, 0, 1) for dj in (-1, 0, 1) if di or dj])
    second = np.partition(neighbours, 6, axis=0)[6]
    value = brightness[rows, cols]
    raw = value - background[rows, cols]
    grouped = _in_bright_group(brightness.shape, rows, cols, raw >= SEED_Z * sigma[rows, cols])
    spike = (value - second > np.maximum(3 * sigma[rows, cols], 0.5 * raw)) & ~grouped
    excess = np.zeros(brightness.shape)
    excess[rows, cols] = np.where(spike, np.minimum(second, value) - background[rows, cols], raw)
    core = np.zeros(brightness.shape, dtype=bool)
    core[rows[grouped], cols[grouped]] = True
    return excess, core


def _in_bright_group(shape: tuple[int, int], rows: np.ndarray, cols: np.ndarray,
                     bright: np.ndarray) -> np.ndarray:
    """Whether each pixel ``(rows, cols)`` is ``bright`` and lies in a group of
    :data:`SPIKE_GROUP_PX` or more bright pixels touching along their edges."""
    image = np.zeros(shape, np.uint8)
    image[rows[bright], cols[bright]] = 1
    _, group, stats, _ = cv2.connectedComponentsWithStats(image, connectivity=4)
    return bright & (stats[group[rows, cols], cv2.CC_STAT_AREA] >= SPIKE_GROUP_PX)


def mean_over(excess: np.ndarray, searched: np.ndarray,
              size: int) -> tuple[np.ndarray, np.ndarray]:
    """``size`` x ``size`` mean of the excess (zero outside ``searched``) over searched pixels
    only, and how many were averaged."""
    total = cv2.boxFilter(excess, -1, (size, size), normalize=False,
                          borderType=cv2.BORDER_CONSTANT)
    count = cv2.boxFilter(searched.astype(np.float64), -1, (size, size), normalize=False,
                          borderType=cv2.BORDER_CONSTANT)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, 0.0), np.maximum(count, 1.0)


def seed_sums(labels: np.ndarray, seeds: np.ndarray, excess: np.ndarray, sigma: np.ndarray,
              count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per label: the significance of its seeds' summed excess leaving out the brightest, that
    brightest excess, its index among the seeds (row-major) and the number of seeds."""
    seed_label = labels[seeds]
    seed_excess = excess[seeds]
    seed_variance = sigma[seeds] ** 2
    seed_count = np.bincount(seed_label, minlength=count)
    total = np.bincount(seed_label, weights=seed_excess, minlength=count)
    variance = np.bincount(seed_label, weights=seed_variance, minlength=count)
    order = np.lexsort((seed_excess, seed_label))
    last = np.flatnonzero(np.diff(seed_label[order], append=count + 1))
    peak_at = np.zeros(count, dtype=np.int64)
    peak_at[seed_label[order][last]] = order[last]
    peak = np.zeros(count)
    peak[seed_label[order][last]] = seed_excess[order][last]
    peak_variance = np.zeros(count)
    peak_variance[seed_label[order][last]] = seed_variance[order][last]
    rest_variance = variance - peak_variance
    with np.errstate(invalid="ignore", divide="ignore"):
        significance = np.where((seed_count > 1) & (rest_variance > 0),
                                (total - peak) / np.sqrt(rest_variance), 0.0)
    return significance, peak, peak_at, seed_count

