"""The background model on scans whose true night glow is known."""

import numpy as np
import pytest

from marsaurora.classify.background import PlanetBasis, fit_background
from marsaurora.classify.excess import excess_map
from marsaurora.classify.noise import counts_per_rayleigh

from scans import GAIN, night_scan


def _fit(observation):
    """One fit over the whole scan, as the excess map's first pass makes it."""
    brightness = observation.brightness_r.astype(np.float64)
    searched = observation.on_disk & np.isfinite(brightness)
    gain = counts_per_rayleigh(brightness, observation.brightness_err_r.astype(np.float64),
                               searched)
    planet = PlanetBasis.of(observation, searched)
    return fit_background(brightness, searched, searched, observation, 100.0, 0.05, gain,
                          planet)


@pytest.mark.parametrize("seed", range(3))
def test_a_limb_brightened_night_is_fitted_within_a_few_percent(seed):
    """Glow six times brighter at the limb than at the centre: the cells follow it."""
    scan = night_scan(0.8, seed, limb_brightened=True, max_emission_deg=85.0)
    truth = 0.8 * np.minimum(1.0 / np.cos(np.radians(scan.emission_deg)), 6.0)
    background, sigma = _fit(scan)
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
