"""The heatmap: disk centred and round, pixel map back to the detector exact."""

from dataclasses import replace

import cv2
import numpy as np
import pytest

from marsaurora.emus import read_l2b
from marsaurora.classify.excess import excess_map
from marsaurora.preprocess import (DISK_CENTRE_PX, DISK_RADIUS_PX, HEIGHT_PX, NO_SOURCE,
                                   WIDTH_PX, log_scaled, render_excess_heatmap, render_heatmap)
from marsaurora.synth.generate import read_truth

from helpers import flat_night_colour



def _disk_pixels(observation, heatmap) -> tuple[np.ndarray, np.ndarray]:
    shown = heatmap.integration != NO_SOURCE
    on_disk = np.zeros(heatmap.integration.shape, bool)
    on_disk[shown] = observation.on_disk[heatmap.integration[shown], heatmap.slit_pixel[shown]]
    ys, xs = np.nonzero(on_disk)
    return xs, ys


def test_heatmap_is_640x480_rgb(aurora_file):
    heatmap = render_heatmap(read_l2b(aurora_file))
    assert heatmap.rgb.shape == (HEIGHT_PX, WIDTH_PX, 3) and heatmap.rgb.dtype == np.uint8
    assert heatmap.integration.shape == heatmap.slit_pixel.shape == (HEIGHT_PX, WIDTH_PX)
    assert (heatmap.rgb[heatmap.integration == NO_SOURCE] == 0).all()


def test_full_disk_is_a_centred_circle_of_the_paper_radius(scenario_sets):
    checked = 0
    for record in read_truth(scenario_sets["quiet_night"]):
        if record["sc_distance_km"] < 34000:
            continue  # a partial swath: the disk is cut by the slit ends
        observation = read_l2b(scenario_sets["quiet_night"] / record["file"])
        heatmap = render_heatmap(observation)
        xs, ys = _disk_pixels(observation, heatmap)
        radius = np.hypot(xs - DISK_CENTRE_PX[0], ys - DISK_CENTRE_PX[1])
        assert heatmap.disk.method == "limb"
        assert radius.max() <= DISK_RADIUS_PX + 4
        inner = np.hypot(*np.mgrid[-160:161, -160:161]) <= 160
        assert xs.size >= 0.85 * inner.sum(), "the disk should fill most of its circle"
        checked += 1
    assert checked >= 3


def test_partial_swath_stays_inside_the_disk_circle(scenario_sets):
    partial = [r for folder in scenario_sets.values() for r in read_truth(folder)
               if r["sc_distance_km"] < 31000]
    if not partial:
        pytest.skip("the fixture sets drew no partial swath")
    for record in partial:
        folder = scenario_sets[record["scenario"]]
        observation = read_l2b(folder / record["file"])
        xs, ys = _disk_pixels(observation, render_heatmap(observation))
        assert np.hypot(xs - DISK_CENTRE_PX[0], ys - DISK_CENTRE_PX[1]).max() <= DISK_RADIUS_PX + 6


def test_disk_is_found_without_minimum_ray_heights(aurora_file):
    observation = read_l2b(aurora_file)
    lean = replace(observation, mrh_alt_km=np.full_like(observation.mrh_alt_km, np.nan))
    fitted, fallback = render_heatmap(observation).disk, render_heatmap(lean).disk
    assert np.allclose(fitted.centre, fallback.centre, atol=3.0)


def test_pixel_map_leads_back_to_the_aurora_peak(scenario_sets):
    folder = scenario_sets["aurora"]
    for record in read_truth(folder):
        observation = read_l2b(folder / record["file"])
        heatmap = render_heatmap(observation)
        for aurora in record["auroras"]:
            row, col = aurora["peak_pixel"]
            x, y = heatmap.to_px(row, col)
            xi, yi = int(round(float(x))), int(round(float(y)))
            assert abs(heatmap.integration[yi, xi] - row) <= 1
            assert abs(heatmap.slit_pixel[yi, xi] - col) <= 1
            brightness = observation.brightness_r[heatmap.integration[yi, xi],
                                                  heatmap.slit_pixel[yi, xi]]
            assert brightness > record["night_background_r"] + 1.0


def test_log_scale_is_monotonic_and_keeps_nan():
    values = np.array([np.nan, 0.0, 0.05, 0.1, 1.0, 10.0, 400.0, 1e4])
    scaled = log_scaled(values, min_r=0.1, max_r=400.0)
    assert np.isnan(scaled[0])
    assert list(scaled[1:]) == sorted(scaled[1:]) and scaled[1] == scaled[3] == 0.0
    assert scaled[-1] == scaled[-2] == 1.0


def test_missing_integrations_are_black(scenario_sets):
    for folder in scenario_sets.values():
        for record in read_truth(folder):
            gaps = [h for h in record["hard_negatives"] if h["type"] == "missing_integrations"
                    and h["count"] >= 2]
            if gaps:
                observation = read_l2b(folder / record["file"])
                heatmap = render_heatmap(observation)
                rows = np.arange(gaps[0]["first"], gaps[0]["first"] + gaps[0]["count"])
                gap = np.isin(heatmap.integration, rows) & (heatmap.slit_pixel > 0)
                assert gap.any() and (heatmap.rgb[gap] == 0).all()
                return
    pytest.skip("the fixture sets drew no missing integrations")


def test_bad_colour_range_is_refused(aurora_file):
    with pytest.raises(ValueError, match="min_r"):
        render_heatmap(read_l2b(aurora_file), min_r=10, max_r=1)


def test_png_round_trip(aurora_file, tmp_path):
    heatmap = render_heatmap(read_l2b(aurora_file))
    heatmap.write_png(tmp_path / "h.png")
    back = cv2.cvtColor(cv2.imread(str(tmp_path / "h.png")), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(back, heatmap.rgb)


def test_the_excess_view_draws_the_searched_night_flat_and_the_rest_as_it_is(aurora_file):
    """Over the searched night a pixel shows its excess over a uniform night (no excess: the
    night's own colour; an excess: brighter); the sunlit disk and the sky keep the heatmap's
    colours, in the heatmap's own frame."""
    observation = read_l2b(aurora_file)
    searched = excess_map(observation).searched
    bump = np.zeros(observation.shape)
    row, col = np.argwhere(searched)[len(np.argwhere(searched)) // 2]
    bump[row - 1:row + 2, col - 1:col + 2] = 20.0
    heatmap = render_heatmap(observation)
    view = render_excess_heatmap(observation, np.where(searched, bump, 0.0), searched, heatmap)
    np.testing.assert_array_equal(view.scan_to_px, heatmap.scan_to_px)
    shown = view.integration != NO_SOURCE

    def surrounded(mask: np.ndarray) -> np.ndarray:
        """Heatmap pixels whose every neighbouring scan pixel is in ``mask`` (no blending)."""
        inside = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        where = np.zeros(shown.shape, bool)
        where[shown] = inside[view.integration[shown], view.slit_pixel[shown]]
        return where

    elsewhere = surrounded(~searched & np.isfinite(observation.brightness_r))
    assert elsewhere.any()
    np.testing.assert_array_equal(view.rgb[elsewhere], heatmap.rgb[elsewhere])
    night = surrounded(searched & (bump == 0))
    assert night.sum() > 1000
    assert (view.rgb[night] == flat_night_colour(heatmap)).all()
    at_bump = shown & (view.integration == row) & (view.slit_pixel == col)
    assert at_bump.any() and (view.rgb[at_bump].sum(axis=1) > view.rgb[night][0].sum()).all()
