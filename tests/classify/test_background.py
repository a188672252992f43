"""The background model on scans whose true night glow is known."""

import numpy as np
import pytest

from marsaurora.classify.background import (PlanetBasis, _curvature, _row_medians,
                                            _solve_banded, fit_background)
from marsaurora.classify.excess import excess_map
from marsaurora.classify.noise import counts_per_rayleigh

from scans import GAIN, night_scan


def _fit(observation, stiff=False):
    """One fit over the whole scan, free as the excess map's final fit or stiff as its first."""
    brightness = observation.brightness_r.astype(np.float64)
    searched = observation.on_disk & np.isfinite(brightness)
    gain = counts_per_rayleigh(brightness, observation.brightness_err_r.astype(np.float64),
                               searched)
    planet = PlanetBasis.of(observation, searched)
    return fit_background(brightness, searched, searched, observation, 100.0, 0.05, gain,
                          planet, stiff=stiff)


@pytest.mark.parametrize("stiff", [False, True])
@pytest.mark.parametrize("seed", range(3))
def test_a_limb_brightened_night_is_fitted_within_a_few_percent(seed, stiff):
    """Glow six times brighter at the limb than at the centre: the cells follow it, and none
    stands out of the first pass's stiff surface, whose penalty lightens beyond 70 deg of
    emission angle, to be lowered to it."""
    scan = night_scan(0.8, seed, limb_brightened=True, max_emission_deg=85.0)
    truth = 0.8 * np.minimum(1.0 / np.cos(np.radians(scan.emission_deg)), 6.0)
    background, sigma = _fit(scan, stiff)
    assert np.median(np.abs(background / truth - 1.0)) < 0.03
    poisson = np.sqrt(truth * GAIN + 1.0) / GAIN
    assert np.median(sigma / poisson) == pytest.approx(1.0, abs=0.15)


@pytest.mark.parametrize("seed", range(3))
def test_the_second_fit_keeps_a_compact_aurora_out_of_its_background(seed):
    """Why the excess map fits twice: a 30 R spot over a 0.8 R night lifts a single fit under
    it by half (each of its pixels still counts up to 3 sigma over the model, nearly twice the
    night at 4 counts per rayleigh); the second fit, without what the first found, stays
    within a tenth of the quiet night's."""
    quiet, _ = _fit(night_scan(0.8, seed))
    spot = night_scan(0.8, seed, blob_r=30.0, blob_at=(60, 64))
    single, _ = _fit(spot)
    assert single[60, 64] > 1.3 * quiet[60, 64]
    held = spot.brightness_r[60, 64] - excess_map(spot).excess_r[60, 64]
    assert held == pytest.approx(quiet[60, 64], rel=0.1)


@pytest.mark.parametrize("seed", range(3))
def test_a_wide_faint_spot_beside_the_terminator_keeps_half_its_light(seed):
    """A 3 R Gaussian spot (8 px sigma) at SZA 112 deg and emission angle 63 deg, beside a
    dayglow tail: its cells there are about 4 by 5-8 pixels (1.5 deg of SZA by 3-5 deg of
    emission angle), smaller than the spot. Free cells, each its own aurora's background,
    left 5-12% of its light as excess (its 489 brightest pixels would stand at 40 sigma
    summed); the first pass lowers the cells standing out of a stiff surface, finds the
    spot, the final fit leaves it out, and 51-71% is kept (12.7-26 sigma)."""
    at, width_px, peak_r = (80, 100), 8.0, 3.0
    scan = night_scan(0.8, seed, blob_r=peak_r, blob_at=at, blob_sigma_px=width_px,
                      terminator_tail_r=30.0, limb_brightened=True, max_emission_deg=80.0)
    rows, cols = np.indices(scan.shape)
    injected = peak_r * np.exp(-((rows - at[0]) ** 2 + (cols - at[1]) ** 2)
                               / (2 * width_px**2))
    core = injected > 0.3 * peak_r
    kept = np.nansum(excess_map(scan).excess_r[core]) / injected[core].sum()
    assert kept > 0.5


@pytest.mark.parametrize("seed", range(3))
def test_the_stiff_surface_rises_under_a_wide_spot_less_than_free_cells(seed):
    """The same 3 R spot, fitted once without a mask: free cells rise under its centre by
    about 2.5 R, most of the spot; with the cells standing out of the stiff surface lowered
    to it, by about 1 R, so the first pass sees the rest as a feature and leaves it out of
    the final fit."""
    look = dict(terminator_tail_r=30.0, limb_brightened=True, max_emission_deg=80.0)
    quiet = night_scan(0.8, seed, **look)
    spot = night_scan(0.8, seed, blob_r=3.0, blob_at=(80, 100), blob_sigma_px=8.0, **look)
    free_rise = _fit(spot)[0][80, 100] - _fit(quiet)[0][80, 100]
    stiff_rise = _fit(spot, True)[0][80, 100] - _fit(quiet, True)[0][80, 100]
    assert free_rise > 2.0
    assert stiff_rise < 0.5 * free_rise


@pytest.mark.parametrize("bands", [31, 32])
def test_the_stiff_surface_solve_by_blocks_equals_the_dense_solve(bands):
    """Normal equations of the stiff surface as a scan makes them: second differences over
    a grid of bands by rings, some cells weightless (empty or standing out), an odd or even
    number of bands (a partial last block)."""
    rng = np.random.default_rng(bands)
    rings = 17
    scale = np.where(rng.random((bands, rings)) < 0.3, 0.1, 1.0)
    weight = np.where(rng.random(bands * rings) < 0.4, 0.0, rng.uniform(1, 400, bands * rings))
    normal = 3.0 * np.median(weight[weight > 0]) * _curvature(scale)
    normal[np.diag_indices(bands * rings)] += weight + 1e-9
    rhs = weight * rng.normal(0.0, 1.0, bands * rings)
    dense = np.linalg.solve(normal, rhs)
    assert np.allclose(_solve_banded(normal, rhs, 2 * rings), dense,
                       rtol=1e-6, atol=1e-6 * np.abs(dense).max())


def test_row_medians_are_each_rows_median_of_its_finite_cells():
    rng = np.random.default_rng(5)
    values = rng.normal(size=(40, 17))
    values[rng.random(values.shape) < 0.6] = np.nan
    values[3] = np.nan
    expected = [np.median(row[np.isfinite(row)]) if np.isfinite(row).any() else np.nan
                for row in values]
    assert np.array_equal(_row_medians(values), expected, equal_nan=True)
