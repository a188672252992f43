"""Distinct cores of one feature: two auroras that touch get a part each; one aurora stays one."""

import numpy as np
import pytest

from marsaurora.classify.cores import MIN_SEPARATION_KM, SADDLE_FRACTION, distinct_cores
from marsaurora.mars import MARS_RADIUS_KM

SHAPE = (120, 128)
DEG_PER_PX = 0.5
KM_PER_PX = np.radians(DEG_PER_PX) * MARS_RADIUS_KM
ROWS, COLS = np.mgrid[0:SHAPE[0], 0:SHAPE[1]]
LAT = (ROWS - 60.0) * DEG_PER_PX
LON = COLS * DEG_PER_PX
BACKGROUND = np.full(SHAPE, 0.5)
ERROR = np.full(SHAPE, 0.3)


def _blob(peak_r: float, at: tuple[int, int], sigma_px: float) -> np.ndarray:
    return peak_r * np.exp(-((ROWS - at[0]) ** 2 + (COLS - at[1]) ** 2) / (2 * sigma_px**2))


def _split(excess: np.ndarray, floor_r: float = 0.2, **arrays: np.ndarray) -> np.ndarray:
    """Parts of the feature made of every pixel over ``floor_r`` (as the screen grows one)."""
    return distinct_cores(excess, excess > floor_r, arrays.get("error", ERROR),
                          arrays.get("background", BACKGROUND), LAT, LON)


def _arc(peak_r: float, row: int, cols: slice) -> np.ndarray:
    arc = np.zeros(SHAPE)
    arc[row:row + 2, cols] = peak_r
    return arc


def test_an_arc_and_a_patch_whose_halo_touches_it_are_two_parts_each_on_its_own():
    patch = _blob(40.0, (50, 64), 4.0) + _blob(3.0, (50, 64), 22.0)
    arc = _arc(30.0, 95, slice(20, 110))
    excess = patch + arc
    assert (excess[50:97, 64] > 0.2).all(), "one feature"
    parts = _split(excess)
    assert parts.max() == 2
    assert parts[50, 64] == 1 and parts[95, 64] == 2, "brightest first"
    assert (parts[96, 20:110] == 2).all() and (parts[48:53, 62:67] == 1).all()


def test_the_lumps_of_one_patch_cluster_closer_than_the_separation_stay_one_part():
    apart_px = int(0.6 * MIN_SEPARATION_KM / KM_PER_PX)
    excess = (_blob(20.0, (60, 40), 4.0) + _blob(15.0, (60, 40 + apart_px), 4.0)
              + _blob(1.0, (60, 40 + apart_px // 2), 20.0))
    assert excess[60, 40 + apart_px // 2] < SADDLE_FRACTION * 15.0, "a deep saddle"
    assert excess[60, 40:40 + apart_px].min() > 0.2, "one feature"
    assert _split(excess).max() == 1


def test_the_same_lumps_farther_apart_are_two_auroras():
    apart_px = int(1.3 * MIN_SEPARATION_KM / KM_PER_PX)
    excess = (_blob(20.0, (60, 10), 4.0) + _blob(15.0, (60, 10 + apart_px), 4.0)
              + _blob(1.0, (60, 10 + apart_px // 2), 40.0))
    assert excess[60, 10:10 + apart_px].min() > 0.2, "one feature"
    parts = _split(excess)
    assert parts.max() == 2 and parts[60, 10] == 1 and parts[60, 10 + apart_px] == 2


def test_a_long_arc_dimmer_in_its_middle_than_the_saddle_rule_is_one_part():
    brightness = 30.0 - 20.0 * np.exp(-((np.arange(SHAPE[1]) - 64) ** 2) / (2 * 15.0**2))
    excess = np.zeros(SHAPE)
    excess[60:62, 4:124] = brightness[4:124]
    assert brightness[64] > SADDLE_FRACTION * brightness[4]
    assert _split(excess).max() == 1


def test_a_long_arc_that_all_but_fades_in_its_middle_is_still_one_part():
    """Its two bright halves are deep-sagged cores far apart, each a piece of a thin arc: an
    arc that dims where it crosses between rows of pixels is one aurora."""
    brightness = 30.0 - 29.0 * np.exp(-((np.arange(SHAPE[1]) - 64) ** 2) / (2 * 6.0**2))
    excess = np.zeros(SHAPE)
    for col in range(4, 124):
        row = 40 + col // 4
        excess[row:row + 2, col] = brightness[col]
    assert brightness[64] < SADDLE_FRACTION * brightness[4]
    assert 100 * KM_PER_PX > MIN_SEPARATION_KM
    assert _split(excess).max() == 1


def test_a_faint_lump_of_glow_beside_an_aurora_is_no_core_of_its_own():
    """A broad lump a fifth over its background, at 1 R over 5 R of glow, holds tens of sigma
    at these errors; what it lacks is the contrast of an aurora."""
    background = np.full(SHAPE, 5.0)
    excess = _blob(40.0, (60, 20), 4.0) + _blob(1.0, (60, 100), 12.0)
    excess += _blob(0.4, (60, 60), 40.0)
    assert excess[60, 20:100].min() > 0.2
    assert _split(excess, background=background, error=np.full(SHAPE, 0.05)).max() == 1
    assert _split(excess, background=np.full(SHAPE, 0.5), error=np.full(SHAPE, 0.05)).max() == 2


def test_a_core_the_noise_explains_is_no_core_of_its_own():
    excess = _blob(40.0, (60, 20), 4.0) + _blob(1.0, (60, 100), 3.0) + _blob(0.4, (60, 60), 40.0)
    assert _split(excess, error=np.full(SHAPE, 0.05)).max() == 2
    assert _split(excess, error=np.full(SHAPE, 2.0)).max() == 1
    assert _split(excess, error=np.full(SHAPE, np.nan)).max() == 1, "no errors, no split"


def test_pieces_that_never_touch_stay_with_the_brightest_core():
    """Pieces of one feature joined across a stripe of missing data are one aurora: the
    feature says so, and no saddle can be measured across the stripe."""
    excess = _blob(30.0, (60, 15), 4.0) + _blob(20.0, (60, 110), 4.0)
    mask = excess > 0.2
    assert mask[60, 15] and mask[60, 110] and not mask[60, 60]
    parts = distinct_cores(excess, mask, ERROR, BACKGROUND, LAT, LON)
    assert parts.max() == 1 and (parts[mask] == 1).all() and (parts[~mask] == 0).all()


@pytest.mark.parametrize("mask", [np.zeros(SHAPE, bool), np.eye(*SHAPE, dtype=bool)[:, :]])
def test_an_empty_or_excess_free_mask_is_at_most_one_part(mask):
    parts = distinct_cores(np.zeros(SHAPE), mask, ERROR, BACKGROUND, LAT, LON)
    assert parts.max() == int(mask.any()) and (parts[mask] == 1).all()
