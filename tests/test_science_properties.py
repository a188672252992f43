"""Whatever numbers a file holds, rendering, both screens and the catalogue answer or refuse
readably: never an uncaught exception."""

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marsaurora.catalog import locate
from marsaurora.classify import SCREENS, classify
from marsaurora.detect import Detection
from marsaurora.emus import read_l2b
from marsaurora.errors import ObservationError
from marsaurora.preprocess import render_heatmap

VALUES = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32),
                   st.sampled_from([0.0, -1.0, 1e-30, 1e30, np.nan, np.inf, -np.inf]))


@pytest.fixture(scope="module")
def observation(aurora_file):
    return read_l2b(aurora_file)


def _filled(shape, seed: int, fill, fraction: float) -> np.ndarray:
    """A real-looking array with a fraction of its entries replaced by ``fill``."""
    rng = np.random.default_rng(seed)
    values = rng.lognormal(0.0, 1.5, shape).astype(np.float32)
    values[rng.random(shape) < fraction] = fill
    return values


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), fill=VALUES, error_fill=VALUES,
       fraction=st.sampled_from([0.0, 0.01, 0.5, 1.0]), screen=st.sampled_from(SCREENS))
def test_any_brightness_and_errors_are_screened_or_refused(observation, seed, fill, error_fill,
                                                            fraction, screen):
    shape = observation.shape
    odd = dataclasses.replace(observation, brightness_r=_filled(shape, seed, fill, fraction),
                              brightness_err_r=_filled(shape, seed + 1, error_fill, fraction))
    try:
        heatmap = render_heatmap(odd)
        result = classify(odd, heatmap, screen=screen)
    except ObservationError:
        return
    assert heatmap.rgb.shape == (480, 640, 3)
    assert result.passed in (True, False)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(box=st.tuples(*[st.floats(-1e4, 1e4, allow_nan=False)] * 4))
def test_any_box_is_located_or_has_no_position(observation, box):
    heatmap = render_heatmap(observation)
    where = locate(observation, heatmap, Detection("aurora", 0.5, box))
    if where.n_pixels == 0:
        assert where.to_record()["lat_deg"] is None
    else:
        assert -90 <= where.lat_deg <= 90 and 0 <= where.lon_deg < 360
