"""Pieces of one thin arc, end to end, are one feature; neighbours stay apart."""

import numpy as np
import pytest

from marsaurora.classify.excess import excess_map
from marsaurora.classify.joining import JOIN_GAP_PX, joined_along_arcs

from scans import SHAPE, night_scan


def _segment(labels: np.ndarray, label: int, start: tuple[float, float],
             stop: tuple[float, float], width: int = 1) -> None:
    """Draw a line of ``label`` from ``start`` to ``stop`` (row, column), ``width`` pixels
    across."""
    steps = int(np.hypot(stop[0] - start[0], stop[1] - start[1]) * 2) + 1
    for t in np.linspace(0.0, 1.0, steps):
        row = int(round(start[0] + t * (stop[0] - start[0])))
        col = int(round(start[1] + t * (stop[1] - start[1])))
        labels[row:row + width, col] = label


def _groups(labels: np.ndarray, count: int, *points: tuple[int, int]) -> list[int]:
    joined = joined_along_arcs(labels, count)[labels]
    return [int(joined[point]) for point in points]


def test_two_pieces_end_to_end_become_one_and_the_gap_stays_out():
    labels = np.zeros((80, 80), np.int32)
    _segment(labels, 1, (40, 5), (42, 30))
    _segment(labels, 2, (43, 36), (46, 70))
    relabel = joined_along_arcs(labels, 3)
    joined = relabel[labels]
    assert relabel.max() + 1 == 2 and joined[40, 5] == joined[46, 70] != 0
    assert joined[43, 33] == 0, "the gap's pixels are not added"


@pytest.mark.parametrize("gap", [int(JOIN_GAP_PX) + 3, 20])
def test_pieces_farther_apart_than_the_join_gap_stay_apart(gap):
    labels = np.zeros((80, 100), np.int32)
    _segment(labels, 1, (40, 5), (40, 30))
    _segment(labels, 2, (40, 30 + gap), (40, 60 + gap))
    first, second = _groups(labels, 3, (40, 5), (40, 60 + gap))
    assert first != second


@pytest.mark.parametrize("one, other", [
    (((30, 5), (30, 40)), ((36, 10), (36, 45))),
    (((40, 5), (40, 40)), ((10, 45), (36, 45))),
], ids=["side by side", "one ending across the other"])
def test_arcs_that_do_not_continue_each_other_stay_apart(one, other):
    labels = np.zeros((80, 80), np.int32)
    _segment(labels, 1, *one)
    _segment(labels, 2, *other)
    first, second = _groups(labels, 3, one[0], other[1])
    assert first != second


def test_a_round_patch_at_an_arcs_end_stays_apart():
    labels = np.zeros((80, 80), np.int32)
    _segment(labels, 1, (40, 5), (40, 40))
    labels[37:44, 44:51] = 2
    first, second = _groups(labels, 3, (40, 5), (40, 47))
    assert first != second


def test_wide_patches_end_to_end_stay_apart():
    """Long in one direction but 9 px wide: a patch, or a wide arc, not a piece of a thin one."""
    labels = np.zeros((80, 100), np.int32)
    _segment(labels, 1, (36, 5), (36, 40), width=9)
    _segment(labels, 2, (36, 45), (36, 80), width=9)
    first, second = _groups(labels, 3, (40, 5), (40, 80))
    assert first != second
    labels[labels > 0] = 0
    _segment(labels, 1, (38, 5), (38, 40), width=5)
    _segment(labels, 2, (38, 45), (38, 80), width=5)
    first, second = _groups(labels, 3, (40, 5), (40, 80))
    assert first == second, "the same pieces 5 px wide are one arc"


def _broken_arc(missing_px: int) -> np.ndarray:
    """A straight arc one pixel wide, 5 R, from (15, 10) to (105, 118), with ``missing_px``
    integrations of it taken out in the middle: the stretch noise can take under the threshold."""
    rows, cols = np.mgrid[0:SHAPE[0], 0:SHAPE[1]]
    centre = 10 + (rows - 15) * 108 / 90
    arc = np.where((rows >= 15) & (rows <= 105),
                   5.0 * np.exp(-0.5 * ((cols - centre) / 0.6) ** 2), 0.0)
    arc[60 - missing_px // 2:60 - missing_px // 2 + missing_px] = 0.0
    return arc


@pytest.mark.parametrize("seed", [4, 5, 6])
def test_a_thin_arc_broken_in_the_middle_is_one_feature(seed):
    """Four integrations out of a diagonal arc: a stretch of about 6 px along it, more than the
    grown regions and line seeds bridge (two features without the join, for each seed)."""
    observation = night_scan(0.3, seed, extra_r=_broken_arc(4))
    excess = excess_map(observation)
    upper, lower = excess.labels[30, 28], excess.labels[90, 100]
    assert upper != 0 and upper == lower
    assert sum(f.area_px > 20 for f in excess.features) == 1


def test_an_arc_with_a_wide_break_is_two_features():
    """Ten integrations out: about 16 px along the arc, two auroras as far as one scan can tell."""
    observation = night_scan(0.3, 4, extra_r=_broken_arc(10))
    excess = excess_map(observation)
    upper, lower = excess.labels[30, 28], excess.labels[90, 100]
    assert upper != 0 and lower != 0 and upper != lower


def test_a_dashed_line_of_many_pieces_is_one_feature():
    """1200 dashes of 5 px, 3 px apart, in 12 long rows: more lines than are compared at once,
    each row one feature, no two rows one."""
    labels = np.zeros((12 * 12, 100 * 8 + 8), np.int32)
    label = 0
    for line in range(12):
        for dash in range(100):
            label += 1
            labels[12 * line + 4, 8 * dash:8 * dash + 5] = label
    joined = joined_along_arcs(labels, label + 1)[labels]
    assert label > 1000
    for line in range(12):
        assert np.unique(joined[12 * line + 4, :795]).size == 2, "the dashes of one row"
    assert np.unique(joined[joined > 0]).size == 12
