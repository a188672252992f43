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
   what it already finds at
   :data:`~marsaurora.classify.seeds.FOUND_SIGNIFICANCE`, so a bright aurora
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
   its neighbours, and not in a small group of bright pixels touching along
   their edges) takes its neighbours' level
   (:mod:`marsaurora.classify.seeds`); a whole detector column or
   integration brighter than its neighbours is left out
   (:mod:`marsaurora.classify.lines`).
5. **Seeds** (:mod:`marsaurora.classify.seeds`). Pixels at 4 sigma of the
   3x3 mean of the excess and half of ``min_excess_r``; away from the limb
   (emission angle up to 60 deg) also of a 7x7 mean, so a wide patch too
   faint in every pixel is found (leaving out what the 3x3 mean already
   found at :data:`~marsaurora.classify.seeds.FOUND_SIGNIFICANCE`, so it
   grows no halo); in the clean night (emission angle up to 60 deg, solar
   zenith angle from 110 deg: :data:`CLEAN_NIGHT_SZA_MARGIN_DEG`) also
   along lines, so an arc thinner than a pixel, whose dashes the despiker
   cuts, is found along its length.
6. **Features** (:mod:`marsaurora.classify.features`). A feature is a
   connected region of pixels at 2.5 sigma of either mean (and a quarter of
   ``min_excess_r``) that holds at least one seed, so the beads of one arc
   make one feature; a stripe of missing data a few pixels wide does not
   split it, nor does a stretch of a thin arc that noise took under the
   growing threshold (:mod:`marsaurora.classify.joining`). Its significance
   is the summed excess of its seeds, leaving out the brightest, in units
   of their combined noise (over its 3x3 seeds, its 3x3 and wide seeds, or
   the pixels of its bright groups, whichever is most; or its arc seeds'
   clipped residuals), and at most its excess over the background model's
   misfit.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from marsaurora.classify.background import SZA_CONTEXT_DEG, PlanetBasis, fit_background
from marsaurora.classify.features import FeatureMap, connected_features
from marsaurora.classify.lines import bad_detector_lines
from marsaurora.classify.noise import (
    NOISE_BEYOND_ERRORS_LIMIT,
    counts_per_rayleigh,
    noise_beyond_errors,
)
from marsaurora.classify.seeds import WIDE_SEED_MAX_EMISSION_DEG, arc_seeds, seeds_and_grown
from marsaurora.emus import Observation

CLEAN_NIGHT_SZA_MARGIN_DEG = 10.0
"""The clean night: emission angles up to
:data:`~marsaurora.classify.seeds.WIDE_SEED_MAX_EMISSION_DEG` and solar zenith angles this far past
the search's nearest (110 deg by default), the format page's region of clean night background. A
feature peaking there is marked ``clean_night`` (it is an aurora without a detector box at less,
``AURORA_CLEAN_NIGHT_SCREEN_ONLY_SIGNIFICANCE``), and arc seeds are looked for only there: the limb
and the terminator are lines themselves, and a background misfit a few percent along either reads as
an arc. Up to the limb a quiet night read 11.7 sigma at an emission angle of 83 deg; with errors of
one value for every pixel, validation's aurora-free scans read 16.5 sigma at SZA 100-106 with no
margin, 10.3 with 5 deg, 8.1 with 10 (as without arc seeds)."""
FOUND_REFITS = 2
"""How many times the first pass may fit again without what it found: the first refit can
find more of a bright aurora, once the fit no longer bends under it; a third changed nothing
(40 OOD and 40 training-range quiet scans with a 100 R spot injected in the terminator band:
strongest feature away from the spot 14.3 sigma with no refit, 9.1 with one, 5.3 with two or
three)."""
BRIGHT_LIMB_R = 20.0
"""Off-disk pixels brighter than this are a sunlit limb: disk pixels next to them are left out."""
LIMB_GUARD_PX = 2
NIGHT_FLOOR_QUANTILE = 0.1
"""A brightness whose night search has this share of pixels under zero (a fit over-subtracted
its background) is raised until it has not: the background is fitted and interpolated in log,
which a night of negative cells would floor. A Poisson brightness is never negative and is
left as it is."""


@dataclass(frozen=True)
class ExcessParams:
    """Where the excess is looked for and how it is judged (``AURORA_*`` settings)."""

    night_sza_min_deg: float = 100.0
    night_emission_max_deg: float = 85.0
    min_excess_r: float = 1.0
    min_sigma_r: float = 0.05




@dataclass(frozen=True, eq=False)
class ExcessMap(FeatureMap):
    """The excess over background of one scan, its features, and how the search went."""

    sigma_r: np.ndarray
    searched: np.ndarray
    """Pixels the search covered (step 1)."""
    features_found: int
    """Features before keeping the
    :data:`~marsaurora.classify.features.MAX_FEATURES` most significant."""
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
        past_terminator = observation.sza_deg >= (params.night_sza_min_deg
                                                  + CLEAN_NIGHT_SZA_MARGIN_DEG)
    clean_night = clear_view & past_terminator
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
    seeded = seeds_and_grown(brightness, background, sigma, searched, params.min_excess_r,
                             clear_view)
    arcs = arc_seeds(brightness, background, sigma,
                     searched & clean_night & ~seeded.found, params.min_excess_r)
    stats["bad_lines_px"] = float(bad_lines.sum())
    stats["background_r"] = float(np.median(background[searched]))
    stats["sigma_r"] = float(np.median(sigma[searched]))
    gaps = (observation.on_disk & ~np.isfinite(brightness)) | bad_lines
    labels, features, found = connected_features(seeded, arcs, sigma, gaps, past_terminator,
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
    implies (:func:`~marsaurora.classify.noise.noise_beyond_errors`).

    A bright aurora bends a fit that includes it, clipped as it is: the cells of its solar
    zenith band and the planet's polynomial rise around it and dip elsewhere, and a dip
    becomes a feature that, left out of the second fit, stays one (on the OOD calibration
    sets, 14 aurora scans held a feature of 8 sigma or more away from every aurora, up to
    22.3 sigma; 2 still do, neither from this). So what the first fit already finds at
    :data:`~marsaurora.classify.seeds.FOUND_SIGNIFICANCE` is left out and the fit made again, up to
    :data:`FOUND_REFITS` times while it finds more, before the features to leave out of the
    second fit are taken.
    """
    background, sigma = fit_background(brightness, searched, context, observation,
                                       params.night_sza_min_deg, params.min_sigma_r,
                                       counts_per_r, planet, stiff=True)
    bad_lines = bad_detector_lines(brightness, background, sigma, searched)
    clean = searched & ~bad_lines
    seeded = seeds_and_grown(brightness, background, sigma, clean, params.min_excess_r,
                             clear_view)
    hidden = np.zeros_like(clean)
    for _ in range(FOUND_REFITS):
        wider = hidden | _widened(seeded.found | bad_lines)
        if not (seeded.found & ~hidden).any() or not _fits_without(context, wider):
            break
        hidden = wider
        background, sigma = fit_background(brightness, searched & ~hidden, context & ~hidden,
                                           observation, params.night_sza_min_deg,
                                           params.min_sigma_r, counts_per_r, planet, stiff=True)
        seeded = seeds_and_grown(brightness, background, sigma, clean, params.min_excess_r,
                             clear_view)
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


