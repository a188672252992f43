"""Excess O I 130.4 nm brightness over the night disk, grouped into connected features.

This is the physical evidence the screen, the decision and the catalogue all
rest on. It works on the scan itself (rayleigh, the file's own errors and
geometry), never on colours:

1. **Where to look.** Every on-disk pixel with a finite brightness, a solar
   zenith angle of at least ``night_sza_min_deg`` (100 deg by default: the
   terminator band, where sinuous arcs start, is included) and an emission
   angle of at most ``night_emission_max_deg`` (85 deg: up to the limb).
   Pixels next to a bright off-disk limb are left out, so light from a
   sunlit limb is never mistaken for emission on the disk.
2. **Background.** The night glow varies smoothly with solar zenith angle
   (the dayglow tail past the terminator, where the upper atmosphere is
   still sunlit) and with emission angle (the slant path brightens thin
   emission towards the limb, by a law that differs between scans). Both
   are measured, not assumed (:mod:`marsaurora.classify.background`):
   clipped means in cells of (solar zenith angle, emission angle), read
   smoothly at every pixel, times the large-scale structure of the airglow
   on the planet: a smooth factor fitted as a low-order polynomial of the
   surface normal, so a brighter region of the night glow stays
   brighter where the limb foreshortens it into a few pixels; then a
   smooth factor per block of the scan for what is left. The background
   is fitted twice: the second time without the pixels the first found in
   features, so an aurora filling much of a cell at the limb does not
   become its own background (the first fit lowers the cells standing out
   of a stiff surface, so neither does a wide faint aurora filling a few
   cells); the first fit is itself made again without
   what it already finds at :data:`FOUND_SIGNIFICANCE`, so a bright aurora
   does not bend it into a dip elsewhere that the second fit would then
   keep as a feature (:func:`_first_pass`). A brightness with more than a
   tenth of its night under zero (an over-subtracted fit) is first raised
   until it has not, since the cells are interpolated in log.
3. **Noise.** Per pixel, the larger of the Poisson error the background
   implies (the file's own ``counts = (R / RAD_ERR_RAND)**2``, read where
   pixels hold a few counts, gives the counts per rayleigh, or, in a file
   without usable errors, the scatter of neighbouring pixels does; a scan
   that scatters more than 1.5 times what its errors imply, at any level of
   background, has its gain lowered to match and is fitted again:
   :mod:`marsaurora.classify.noise`; the variance is never taken below one
   count, so a single count on a black night is no detection), the robust
   scatter of the residuals around it, and ``min_sigma_r``.
4. **Instrument artefacts.** A hot pixel (far above the second brightest of
   its neighbours, and not in a group of :data:`SPIKE_GROUP_PX` bright
   pixels touching along their edges) takes its neighbours' level; a whole
   detector column or integration brighter than its neighbours is left out.
5. **Features.** The excess is smoothed over 3x3 (gaps left out). Seeds
   are pixels at :data:`SEED_Z` sigma of the smoothed mean and half of
   ``min_excess_r``; away from the limb (:data:`WIDE_SEED_MAX_EMISSION_DEG`)
   also pixels with a positive excess at :data:`SEED_Z` sigma of the
   :data:`WIDE_SEED_PX` x :data:`WIDE_SEED_PX` mean and half of
   ``min_excess_r``, so a wide patch too faint in every pixel is found
   (the wide mean leaves out features the 3x3 mean already found at
   :data:`FOUND_SIGNIFICANCE`, so they grow no halo). A feature is a
   connected region of pixels at :data:`GROW_Z` sigma of either mean (and a
   quarter of ``min_excess_r``) that holds at least one seed, so the beads
   of one arc make one feature; a stripe of missing data up to
   :data:`MAX_BRIDGED_GAP_PX` wide does not split it. In the clean night
   (emission angle up to 60 deg, solar zenith angle from 110 deg:
   :data:`CLEAN_NIGHT_SZA_MARGIN_DEG`), arc seeds (:data:`ARC_SEED_Z`
   sigma of a line mean in one of :data:`ARC_ORIENTATIONS` directions, on
   residuals clipped at :data:`ARC_CLIP_Z` sigma) join them, so an arc
   thinner than a pixel, whose dashes the despiker cuts, is found along its
   length. Pieces of a thin arc lying end to end along one line, where noise
   took a stretch of it under :data:`GROW_Z`, are one feature
   (:mod:`marsaurora.classify.joining`).
   Its significance is the summed excess of its seeds, leaving out the
   brightest, in units of their combined noise: over its 3x3 seeds, over
   its 3x3 and wide seeds, or over the pixels of its bright groups
   (:data:`SPIKE_GROUP_PX`), whichever is most; or the clipped residuals of
   its arc seeds summed, when it holds :data:`ARC_SEED_PX` of them or more.

Features take one pass over the scan (labels, ``bincount`` sums), so the
cost grows with the number of pixels, not with the number of features; at
most :data:`MAX_FEATURES` features, the most significant, are kept.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np

from marsaurora.classify.background import SZA_CONTEXT_DEG, PlanetBasis, fit_background
from marsaurora.classify.joining import joined_along_arcs
from marsaurora.classify.noise import (
    NOISE_BEYOND_ERRORS_LIMIT,
    counts_per_rayleigh,
    noise_beyond_errors,
)
from marsaurora.emus import Observation

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
CLEAN_NIGHT_SZA_MARGIN_DEG = 10.0
"""The clean night: emission angles up to :data:`WIDE_SEED_MAX_EMISSION_DEG` and solar zenith
angles this far past the search's nearest (110 deg by default), the format page's region of
clean night background. A feature peaking there is marked ``clean_night`` (it is an aurora
without a detector box at less, ``AURORA_CLEAN_NIGHT_SCREEN_ONLY_SIGNIFICANCE``), and arc
seeds are looked for only there: the limb and the terminator are lines themselves, and a
background misfit a few percent along either reads as an arc. Up to the limb a quiet night
read 11.7 sigma at an emission angle of 83 deg; with errors of one value for every pixel,
validation's aurora-free scans read 16.5 sigma at SZA 100-106 with no margin, 10.3 with 5
deg, 8.1 with 10 (as without arc seeds)."""
LIMB_MISFIT_FRACTION = 0.05
"""Beyond :data:`WIDE_SEED_MAX_EMISSION_DEG` a feature's significance is at most its summed
excess over this fraction of the background summed under it (:func:`_beyond_misfit`): at the
10 sigma of an aurora without a box, half as bright again as its background on average.
There a cell of the background surface holds a few pixels from far apart on the planet, and
the model misses by some percent over whole regions: a misfit the Poisson noise hides at our
gains (1-8 counts per rayleigh) but not in cleaner scans, and one that does not average down
as a feature grows. Without it, at 10-40 counts per rayleigh, 13 of 200 aurora-free scans
redrawn by other night-glow laws passed the screen (up to 105 sigma, 12-45% over the
background on average), at 50-150 26; with it 2 and 2. Of our own scans at those gains
(480), 6 aurora-free ones passed, none with it; of 503 aurora observations on validation and
the OOD calibration sets, one lost its candidates (two features of 17 and 12 sigma, 26-36%
over a limb of 18-35 R)."""
CLEAR_VIEW_MISFIT_FRACTION = 0.01
"""Up to :data:`WIDE_SEED_MAX_EMISSION_DEG` the same bound with this fraction: a feature at the
10 sigma of an aurora without a box stands a tenth over its background on average. Out of
the training ranges at 10-40 counts per rayleigh, dayglow-tail misfits in the terminator
band (3-7% over 6-31 R) passed the screen; aurora features on our sets stand 18% or more
over theirs."""
FOUND_SIGNIFICANCE = 10.0
"""A 3x3 feature this significant (an aurora without a box outside the clean night) is found:
the wide mean leaves it out, and the first pass fits again without it (:func:`_first_pass`)."""
FOUND_REFITS = 2
"""How many times the first pass may fit again without what it found: the first refit can
find more of a bright aurora, once the fit no longer bends under it; a third changed nothing
(40 OOD and 40 training-range quiet scans with a 100 R spot injected in the terminator band:
strongest feature away from the spot 14.3 sigma with no refit, 9.1 with one, 5.3 with two or
three)."""
GROW_Z = 2.5
GROW_EXCESS_FRACTION = 0.25
BRIGHT_LIMB_R = 20.0
"""Off-disk pixels brighter than this are a sunlit limb: disk pixels next to them are left out."""
LIMB_GUARD_PX = 2
MAX_FEATURES = 50
MAX_BRIDGED_GAP_PX = 4
"""Widest stripe of missing data (integrations or detector lines) a feature is joined across."""
NIGHT_FLOOR_QUANTILE = 0.1
"""A brightness whose night search has this share of pixels under zero (a fit over-subtracted
its background) is raised until it has not: the background is fitted and interpolated in log,
which a night of negative cells would floor. A Poisson brightness is never negative and is
left as it is."""
MIN_LINE_PIXELS = 20
BAD_LINE_NEIGHBOURS = 4
BAD_LINE_SIGMA = 1.0
"""A line's lower quartile of residuals this many sigma above its neighbours' marks it bad; the
lower quartile of 20 noise pixels scatters by about 0.3 sigma."""
BAD_LINE_QUANTILE = 0.25
"""Which level of a line's residuals is compared: the lower quartile, not the median. A bad
line lifts every pixel; an aurora covers part of a line, but on the short lines near the limb
it can cover most: an arc along a column, over 64% of it, was taken for five bad columns by the
median and cut in two (21 of 22 scans with lines flagged on the OOD calibration sets and
validation held no bad line at all, only an aurora; 8 with the lower quartile)."""

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


@dataclass(frozen=True)
class ExcessParams:
    """Where the excess is looked for and how it is judged (``AURORA_*`` settings)."""

    night_sza_min_deg: float = 100.0
    night_emission_max_deg: float = 85.0
    min_excess_r: float = 1.0
    min_sigma_r: float = 0.05


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
    """Whether its peak is in the clean night (:data:`CLEAN_NIGHT_SZA_MARGIN_DEG`)."""

    def reaches(self, significance: float, clean_night_significance: float) -> bool:
        """Whether it is ``significance`` sigma or more; in the clean night, the lower of that
        and ``clean_night_significance`` is enough."""
        needed = (min(significance, clean_night_significance) if self.clean_night
                  else significance)
        return self.significance >= needed


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


@dataclass(frozen=True, eq=False)
class ExcessMap(FeatureMap):
    """The excess over background of one scan, its features, and how the search went."""

    sigma_r: np.ndarray
    searched: np.ndarray
    """Pixels the search covered (step 1)."""
    features_found: int
    """Features before keeping the :data:`MAX_FEATURES` most significant."""
    stats: dict[str, float]


def excess_map(observation: Observation, params: ExcessParams = ExcessParams()) -> ExcessMap:
    """Measure the excess brightness of one scan and group it into features.

    Parameters
    ----------
    observation : Observation
        Brightness (R), errors and geometry of one scan.
    params : ExcessParams
        Where to look and the floors on excess and noise.

    Returns
    -------
    ExcessMap
        With no features for a quiet scan, or when too little of the disk
        is in the searched range.
    """
    brightness = observation.brightness_r.astype(np.float64)
    error = observation.brightness_err_r.astype(np.float64)
    searched = _searched(observation, brightness, params)
    stats = {"night_pixels": float(searched.sum())}
    empty = np.zeros(brightness.shape)
    if searched.sum() < 9:
        return ExcessMap(excess_r=empty, labels=np.zeros(brightness.shape, np.int32),
                         features=(), sigma_r=empty, searched=searched, features_found=0,
                         stats=stats)
    brightness = brightness - min(float(np.quantile(brightness[searched], NIGHT_FLOOR_QUANTILE)),
                                  0.0)
    context = _context(observation, brightness, params)
    counts_per_r = counts_per_rayleigh(brightness, error, searched)
    planet = PlanetBasis.of(observation, _widened(context))
    with np.errstate(invalid="ignore"):
        clear_view = observation.emission_deg <= WIDE_SEED_MAX_EMISSION_DEG
        clean_night = clear_view & (observation.sza_deg >= params.night_sza_min_deg
                                    + CLEAN_NIGHT_SZA_MARGIN_DEG)
    bad_lines, masked, understated = _first_pass(brightness, searched, context, observation,
                                                 params, counts_per_r, planet, clear_view)
    if understated > NOISE_BEYOND_ERRORS_LIMIT:
        counts_per_r /= understated**2
        bad_lines, masked, _ = _first_pass(brightness, searched, context, observation, params,
                                           counts_per_r, planet, clear_view)
    searched &= ~bad_lines
    background, sigma = fit_background(brightness, searched & ~masked, context & ~masked,
                                       observation, params.night_sza_min_deg,
                                       params.min_sigma_r, counts_per_r, planet)
    seeded = _seeds_and_grown(brightness, background, sigma, searched, params, clear_view)
    arcs = _arc_seeds(brightness, background, sigma,
                      searched & clean_night & ~seeded.found, params)
    stats["bad_lines_px"] = float(bad_lines.sum())
    stats["background_r"] = float(np.median(background[searched]))
    stats["sigma_r"] = float(np.median(sigma[searched]))
    gaps = (observation.on_disk & ~np.isfinite(brightness)) | bad_lines
    labels, features, found = _features(seeded, arcs, sigma, gaps, clean_night,
                                        background, clear_view)
    stats["features"] = float(found)
    return ExcessMap(excess_r=seeded.excess, labels=labels, features=features, sigma_r=sigma,
                     searched=searched, features_found=found, stats=stats)


def _first_pass(brightness: np.ndarray, searched: np.ndarray, context: np.ndarray,
                observation: Observation, params: ExcessParams, counts_per_r: float,
                planet: PlanetBasis, clear_view: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, float]:
    """Bad detector lines, the pixels to leave out of the second fit (the first fit's features
    and bad lines, widened by one pixel), and how much more the rest scatters than the gain
    implies (:func:`noise_beyond_errors`).

    A bright aurora bends a fit that includes it, clipped as it is: the cells of its solar
    zenith band and the planet's polynomial rise around it and dip elsewhere, and a dip
    becomes a feature that, left out of the second fit, stays one (on the OOD calibration
    sets, 14 aurora scans held a feature of 8 sigma or more away from every aurora, up to
    22.3 sigma; 2 still do, neither from this). So what the first fit already finds at
    :data:`FOUND_SIGNIFICANCE` is left out and the fit made again, up to
    :data:`FOUND_REFITS` times while it finds more, before the features to leave out of the
    second fit are taken.
    """
    background, sigma = fit_background(brightness, searched, context, observation,
                                       params.night_sza_min_deg, params.min_sigma_r,
                                       counts_per_r, planet, stiff=True)
    bad_lines = _bad_lines(brightness, background, sigma, searched)
    clean = searched & ~bad_lines
    seeded = _seeds_and_grown(brightness, background, sigma, clean, params, clear_view)
    hidden = np.zeros_like(clean)
    for _ in range(FOUND_REFITS):
        wider = hidden | _widened(seeded.found | bad_lines)
        if not (seeded.found & ~hidden).any() or not _fits_without(context, wider):
            break
        hidden = wider
        background, sigma = fit_background(brightness, searched & ~hidden, context & ~hidden,
                                           observation, params.night_sza_min_deg,
                                           params.min_sigma_r, counts_per_r, planet, stiff=True)
        seeded = _seeds_and_grown(brightness, background, sigma, clean, params, clear_view)
    masked = _widened(seeded.grown | bad_lines)
    if not _fits_without(context, masked):
        masked = hidden
    return bad_lines, masked, noise_beyond_errors(brightness, background, clean & ~masked,
                                                  counts_per_r)


def _fits_without(context: np.ndarray, mask: np.ndarray) -> bool:
    """Whether any pixel of ``context`` stays to fit a background on without ``mask``. A
    night so small that its features fill it is fitted with less left out (what the refits
    left out, or nothing) rather than on nothing: an 8x8-pixel night holding an 80 R spot
    ended in an error."""
    return bool((context & ~mask).any())


def _widened(mask: np.ndarray) -> np.ndarray:
    """``mask`` and the pixels next to it."""
    return cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0


class _Seeds(NamedTuple):
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


class _ArcSeeds(NamedTuple):
    """Seeds along lines (:func:`_arc_seeds`) and the residuals they are measured on."""

    pixels: np.ndarray
    grown: np.ndarray
    clipped_z: np.ndarray
    """Residual in sigma, not despiked, clipped to :data:`ARC_CLIP_Z`; 0 outside the search."""


def _seeds_and_grown(brightness: np.ndarray, background: np.ndarray, sigma: np.ndarray,
                     searched: np.ndarray, params: ExcessParams, clear_view: np.ndarray
                     ) -> _Seeds:
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
    smooth, count = _smoothed(excess, searched, 3)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = smooth / (sigma / np.sqrt(count))
    seeds = searched & (z >= SEED_Z) & (smooth >= 0.5 * params.min_excess_r)
    grown = (searched & (z >= GROW_Z) & (smooth >= GROW_EXCESS_FRACTION * params.min_excess_r)
             | seeds)
    found = _found(grown, seeds, excess, sigma)
    wide = searched & clear_view & ~found
    smooth, count = _smoothed(np.where(wide, excess, 0.0), wide, WIDE_SEED_PX)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = smooth / (sigma / np.sqrt(count))
    wide_seeds = wide & (z >= SEED_Z) & (smooth >= 0.5 * params.min_excess_r) & (excess > 0)
    grown |= (wide & (z >= GROW_Z) & (smooth >= GROW_EXCESS_FRACTION * params.min_excess_r)
              | wide_seeds)
    return _Seeds(excess, seeds, wide_seeds, grown, found, core)


def _arc_seeds(brightness: np.ndarray, background: np.ndarray, sigma: np.ndarray,
               searched: np.ndarray, params: ExcessParams) -> _ArcSeeds:
    """Searched pixels on a line of :data:`ARC_SEED_PX` pixels, in some direction, whose
    clipped residuals sum to :data:`ARC_SEED_Z` times their noise and average half of
    ``min_excess_r`` (the floor every seed has); pixels features grow through where they sum
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
        return _ArcSeeds(seeds, grown, clipped_z)
    values_z = clipped_z[window]
    values_r = values_z * sigma[window]
    inside = searched[window].astype(np.float64)
    for kernel in _line_kernels():
        count = _line_sums(inside, kernel)
        count = np.where(count >= ARC_SEED_PX // 2, count, np.inf)
        line_z = _line_sums(values_z, kernel) / np.sqrt(count)
        line_r = _line_sums(values_r, kernel) / count
        seeds[window] |= (line_z >= ARC_SEED_Z) & (line_r >= 0.5 * params.min_excess_r)
        grown[window] |= ((line_z >= ARC_GROW_Z)
                          & (line_r >= GROW_EXCESS_FRACTION * params.min_excess_r))
    return _ArcSeeds(searched & seeds, searched & grown, clipped_z)


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
    significance = _seed_sums(labels, seeds, excess, sigma, count)[0]
    found = significance >= FOUND_SIGNIFICANCE
    found[0] = False
    return found[labels]


def _bad_lines(brightness: np.ndarray, background: np.ndarray, sigma: np.ndarray,
               searched: np.ndarray) -> np.ndarray:
    """Whole detector columns or integrations brighter than their neighbours: instrument, not Mars.

    A column (or row) is bad when the lower quartile of its residuals, in
    sigma (:data:`BAD_LINE_QUANTILE`), stands :data:`BAD_LINE_SIGMA` above
    the median of its neighbours' lower quartiles. Over the whole line: an
    aurora covers part of a line, rarely three quarters of it.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        residual = np.where(searched, (brightness - background) / sigma, np.nan)
    bad = np.zeros(searched.shape, dtype=bool)
    width = BAD_LINE_NEIGHBOURS
    for axis in (0, 1):
        levels = _finite_quantiles(residual, axis, BAD_LINE_QUANTILE)
        levels[searched.sum(axis=axis) < MIN_LINE_PIXELS] = np.nan
        windows = np.lib.stride_tricks.sliding_window_view(
            np.pad(levels, width, constant_values=np.nan), 2 * width + 1).copy()
        windows[:, width] = np.nan
        around = _finite_quantiles(windows, 1, 0.5)
        enough = np.isfinite(windows).sum(axis=1) >= 2
        line = enough & (levels - around > BAD_LINE_SIGMA)
        if axis == 0:
            bad[:, line] = True
        else:
            bad[line, :] = True
    return bad & searched


def _finite_quantiles(values: np.ndarray, axis: int, quantile: float) -> np.ndarray:
    """``np.nanquantile(values, quantile, axis)`` of a 2-D array, NaN where a line has no
    finite value, by one sort: for lines this short ``np.nanmedian`` took a masked-array path
    that cost as much as a background fit."""
    ordered = np.moveaxis(np.sort(values, axis=axis), axis, 0)
    count = np.isfinite(values).sum(axis=axis)
    lines = np.arange(ordered.shape[1])
    position = quantile * np.maximum(count - 1, 0)
    below = np.floor(position).astype(np.int64)
    low = ordered[below, lines]
    high = ordered[np.minimum(below + 1, np.maximum(count - 1, 0)), lines]
    return np.where(count > 0, low + (position - below) * (high - low), np.nan)


def _searched(observation: Observation, brightness: np.ndarray,
              params: ExcessParams) -> np.ndarray:
    """Night disk pixels within the emission-angle limit, away from any bright sunlit limb."""
    with np.errstate(invalid="ignore"):
        searched = (observation.on_disk & np.isfinite(brightness)
                    & (observation.sza_deg >= params.night_sza_min_deg)
                    & (observation.emission_deg <= params.night_emission_max_deg))
        bright_limb = ~observation.on_disk & (np.nan_to_num(brightness) > BRIGHT_LIMB_R)
    if bright_limb.any():
        size = 2 * LIMB_GUARD_PX + 1
        near = cv2.dilate(bright_limb.astype(np.uint8), np.ones((size, size), np.uint8))
        searched &= near == 0
    return searched


def _context(observation: Observation, brightness: np.ndarray,
             params: ExcessParams) -> np.ndarray:
    """Pixels the background is fitted on: the search, widened towards the terminator."""
    wider = ExcessParams(night_sza_min_deg=params.night_sza_min_deg - SZA_CONTEXT_DEG,
                         night_emission_max_deg=params.night_emission_max_deg,
                         min_excess_r=params.min_excess_r, min_sigma_r=params.min_sigma_r)
    return _searched(observation, brightness, wider)


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


def _smoothed(excess: np.ndarray, searched: np.ndarray,
              size: int) -> tuple[np.ndarray, np.ndarray]:
    """``size`` x ``size`` mean of the excess over searched pixels only, and how many were
    averaged."""
    total = cv2.boxFilter(excess, -1, (size, size), normalize=False,
                          borderType=cv2.BORDER_CONSTANT)
    count = cv2.boxFilter(searched.astype(np.float64), -1, (size, size), normalize=False,
                          borderType=cv2.BORDER_CONSTANT)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, 0.0), np.maximum(count, 1.0)


def _features(seeded: _Seeds, arcs: _ArcSeeds, sigma: np.ndarray, gaps: np.ndarray,
              clean_night: np.ndarray, background: np.ndarray, clear_view: np.ndarray
              ) -> tuple[np.ndarray, tuple[Feature, ...], int]:
    """Connected regions holding a seed, their numbers in one pass, the strongest kept.

    A feature's significance is the best of four sums: over its 3x3 seeds, over its 3x3 and
    wide seeds (the faint wide seeds around a compact aurora would otherwise dilute it), over
    the pixels of its bright groups (a spot of a few bright pixels makes every pixel around it
    a 3x3 seed, and their noise diluted its own pixels' evidence: an 88 R spot over 1 x 3
    pixels read 7.0 sigma over its seeds and 19 over its pixels), and, when it holds at least
    :data:`ARC_SEED_PX` arc seeds, the clipped residuals of those (the despiker has cut the
    dashes of a thin arc out of the excess; the clip keeps hot pixels from counting). Arc
    seeds stay out of the other sums: lines through a bright spot
    reach :data:`ARC_SEED_Z` around it, and their faint pixels took a 10.6-sigma spot under
    10. Regions on both sides of a gap in the data (``gaps``: missing integrations, bad
    detector lines) up to :data:`MAX_BRIDGED_GAP_PX` wide are one feature: a stripe of
    missing data does not cut an arc in two, and nor does a stretch of the arc itself that
    noise took under the growing threshold: pieces of a thin arc lying end to end along one
    line are one feature (:func:`~marsaurora.classify.joining.joined_along_arcs`), as
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
    significance, peak, peak_pixels, seed_count = _significance(
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
            clean_night=bool(clean_night[peak_pixel])))
    return relabel[labels], tuple(features), int(seeded_labels.size)


def _significance(labels: np.ndarray, count: int, seeded: _Seeds, arcs: _ArcSeeds,
                  sigma: np.ndarray, background: np.ndarray, clear_view: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per label: its significance (the best of the four sums, within the misfit bound), and
    its seeds' brightest excess, that seed's (row, column) and how many seeds it holds."""
    excess = seeded.excess
    narrow = _seed_sums(labels, seeded.seeds, excess, sigma, count)[0]
    widest = _seed_sums(labels, seeded.seeds | seeded.wide, excess, sigma, count)[0]
    core = _seed_sums(labels, seeded.core & seeded.grown, excess, sigma, count)[0]
    every = seeded.seeds | seeded.wide | arcs.pixels
    _, peak, peak_at, seed_count = _seed_sums(labels, every, excess, sigma, count)
    significance = np.maximum.reduce([narrow, widest, core, _arc_sums(labels, arcs, count)])
    seeded_labels = np.flatnonzero(seed_count > 0)
    seed_rows, seed_cols = np.nonzero(every)
    misfit = np.full(count, CLEAR_VIEW_MISFIT_FRACTION)
    misfit[seeded_labels] = np.where(clear_view[seed_rows[peak_at[seeded_labels]],
                                                seed_cols[peak_at[seeded_labels]]],
                                     CLEAR_VIEW_MISFIT_FRACTION, LIMB_MISFIT_FRACTION)
    significance = _beyond_misfit(significance, labels, excess, background, misfit)
    peak_pixels = (np.stack([seed_rows, seed_cols], axis=1)[peak_at] if seed_rows.size
                   else np.zeros((count, 2), dtype=np.int64))
    return significance, peak, peak_pixels, seed_count


def _beyond_misfit(significance: np.ndarray, labels: np.ndarray, excess: np.ndarray,
                   background: np.ndarray, misfit: np.ndarray) -> np.ndarray:
    """Per label: the lower of ``significance`` and its summed excess in units of its
    ``misfit`` fraction of the background summed over its pixels."""
    inside = labels > 0
    total = np.bincount(labels[inside], weights=excess[inside], minlength=misfit.size)
    under = np.bincount(labels[inside], weights=background[inside], minlength=misfit.size)
    with np.errstate(invalid="ignore", divide="ignore"):
        beyond = np.where(under > 0, total / (misfit * under), np.inf)
    return np.minimum(significance, beyond)


def _arc_sums(labels: np.ndarray, arcs: _ArcSeeds, count: int) -> np.ndarray:
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


def _seed_sums(labels: np.ndarray, seeds: np.ndarray, excess: np.ndarray, sigma: np.ndarray,
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
