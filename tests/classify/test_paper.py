"""The paper's filter: faithful steps, and the day/night gate it turns out to be."""

import numpy as np
import pytest

from marsaurora.classify import PaperFilterParams, ScreenResult, classify, paper_filter
from marsaurora.emus import read_l2b
from marsaurora.preprocess import HEIGHT_PX, WIDTH_PX, render_heatmap
from marsaurora.synth.generate import read_truth


def _results(folder, params: PaperFilterParams | None = None) -> list[ScreenResult]:
    results = []
    for record in read_truth(folder):
        heatmap = render_heatmap(read_l2b(folder / record["file"]))
        results.append(paper_filter(heatmap, params or PaperFilterParams()))
    return results


def test_bright_auroras_pass_the_literal_filter(scenario_sets):
    folder = scenario_sets["aurora"]
    bright = [r for r, t in zip(_results(folder), read_truth(folder), strict=True)
              if max(a["peak_r"] for a in t["auroras"]) >= 4]
    assert bright and all(r.passed for r in bright)


def test_literal_filter_is_a_day_night_gate(scenario_sets):
    quiet = _results(scenario_sets["quiet_night"])
    dayside = _results(scenario_sets["dayside"])
    assert all(r.passed for r in quiet), "the paper filter passes quiet nights too"
    night_objects = np.median([r.stats["objects"] for r in quiet])
    day_objects = np.median([r.stats["objects"] for r in dayside])
    assert night_objects > 5 * day_objects


def test_minimum_area_and_tight_crop_cut_dayside_passes(scenario_sets):
    literal = _results(scenario_sets["dayside"])
    tight = _results(scenario_sets["dayside"],
                     PaperFilterParams(mask_radius_px=150, min_object_area_px=200))
    assert sum(r.passed for r in tight) < sum(r.passed for r in literal)
    assert sum(r.stats["objects"] for r in tight) < sum(r.stats["objects"] for r in literal)


def test_objects_outside_the_mask_are_not_counted(aurora_file):
    heatmap = render_heatmap(read_l2b(aurora_file))
    tiny = paper_filter(heatmap, PaperFilterParams(mask_radius_px=3))
    assert tiny.stats["objects"] <= 1 and not tiny.passed


def test_black_image_has_no_object(aurora_file):
    heatmap = render_heatmap(read_l2b(aurora_file))
    blank = type(heatmap)(rgb=np.zeros((HEIGHT_PX, WIDTH_PX, 3), np.uint8),
                          integration=heatmap.integration, slit_pixel=heatmap.slit_pixel,
                          scan_to_px=heatmap.scan_to_px, disk=heatmap.disk,
                          log_range_r=heatmap.log_range_r)
    result = paper_filter(blank)
    assert result.stats["objects"] == 1 and not result.passed


def test_candidates_map_back_to_the_scan(aurora_file):
    observation = read_l2b(aurora_file)
    result = classify(observation, render_heatmap(observation), screen="paper")
    nint, npix = observation.shape
    assert result.passed
    for candidate in result.candidates:
        first, last = candidate.integration_range
        assert 0 <= first <= last < nint
        x0, y0, x1, y1 = candidate.bbox_px
        assert 0 <= x0 <= x1 < WIDTH_PX and 0 <= y0 <= y1 < HEIGHT_PX
        assert candidate.area_heatmap_px > 0


def test_unknown_screen_is_refused(aurora_file):
    observation = read_l2b(aurora_file)
    with pytest.raises(ValueError, match="AURORA_SCREEN"):
        classify(observation, render_heatmap(observation), screen="yolo")
