"""The overlay: one legible label per aurora, whatever crowds around it."""

import cv2
import numpy as np

from marsaurora.overlay import BOX_RGB, draw_detections, place_text

HEATMAP_RGB = (90, 20, 60)
"""Not grey, like no box colour: a label's black ground and white text are the only greys."""


def _crowd() -> list[dict]:
    """Six auroras in one corner of the disk, the way a patch cluster comes out: boxes that
    touch and labels that would all want the same rows."""
    deciders = ("both", "screen", "detector")
    return [{"box_px": [300 + 12 * k, 170 + 6 * (k % 3), 330 + 12 * k, 200 + 6 * (k % 3)],
             "decided_by": deciders[k % 3], "lat_deg": -12.0 + 5 * k, "lon_deg": 210.0 - 4 * k,
             "peak_r": 90.0 - 7 * k, "confidence": 0.35 if k % 3 != 1 else None}
            for k in range(6)]


def _labels(canvas: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Bounding boxes (x, y, w, h) of the grey regions: the labels."""
    grey = (canvas[..., 0] == canvas[..., 1]) & (canvas[..., 1] == canvas[..., 2])
    count, _, stats, _ = cv2.connectedComponentsWithStats(grey.astype(np.uint8), connectivity=8)
    return [tuple(int(v) for v in stats[label, :4]) for label in range(1, count)]


def test_each_aurora_gets_one_label_apart_from_every_other():
    canvas = np.zeros((480, 640, 3), np.uint8) + np.array(HEATMAP_RGB, np.uint8)
    labels = _labels(draw_detections(canvas, _crowd()))
    assert len(labels) == 6, "labels touch or overlap, or one is missing"


def test_no_box_runs_through_a_label():
    canvas = np.zeros((480, 640, 3), np.uint8) + np.array(HEATMAP_RGB, np.uint8)
    drawn = draw_detections(canvas, _crowd())
    box_colours = np.array(list(BOX_RGB.values()), np.uint8)
    for x, y, w, h in _labels(drawn):
        patch = drawn[y:y + h, x:x + w].reshape(-1, 1, 3)
        assert not (patch == box_colours[None]).all(axis=2).any(), (x, y, w, h)


def test_a_box_at_the_image_edge_keeps_its_whole_label():
    """Shifted into the image, not cut by its edge: the same size as in the middle."""
    def sizes(detections):
        canvas = np.zeros((480, 640, 3), np.uint8) + np.array(HEATMAP_RGB, np.uint8)
        return sorted((w, h) for _, _, w, h in _labels(draw_detections(canvas, detections)))

    edges = [{"box_px": [-30, -20, 10, 15], "lat_deg": 80.0, "lon_deg": 1.0, "peak_r": 5.0},
             {"box_px": [620, 470, 700, 500], "lat_deg": -80.0, "lon_deg": 359.0,
              "peak_r": 7.0}]
    middle = [dict(edges[0], box_px=[100, 200, 140, 235]),
              dict(edges[1], box_px=[400, 200, 480, 230])]
    assert len(sizes(edges)) == 2 and sizes(edges) == sizes(middle)


def test_labels_crowded_at_the_bottom_edge_stay_apart():
    """Boxes along the bottom of the heatmap: stacked downwards, the labels would leave the
    image, and clipping them back in laid them over each other; they stack upwards instead."""
    canvas = np.zeros((480, 640, 3), np.uint8) + np.array(HEATMAP_RGB, np.uint8)
    bottom = [{"box_px": [300 + 10 * k, 470, 330 + 10 * k, 479], "lat_deg": -60.0 + k,
               "lon_deg": 200.0, "peak_r": 20.0 + k} for k in range(5)]
    assert len(_labels(draw_detections(canvas, bottom))) == 5


def test_a_place_is_written_with_its_hemisphere_not_a_signed_north():
    assert place_text(-37.4, 296.2) == "37S 296E"
    assert place_text(12.6, 3.0) == "13N 3E"
