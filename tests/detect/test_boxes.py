"""Our letterbox and NMS against ultralytics' own, so the ONNX path sees what training saw."""

import numpy as np
import pytest

from marsaurora.detect.boxes import letterbox, select, to_source

from helpers import NEEDS_TRAINING_STACK

torch = pytest.importorskip("torch", reason=NEEDS_TRAINING_STACK)
augment = pytest.importorskip("ultralytics.data.augment", reason=NEEDS_TRAINING_STACK)
nms = pytest.importorskip("ultralytics.utils.nms", reason=NEEDS_TRAINING_STACK)
ops = pytest.importorskip("ultralytics.utils.ops", reason=NEEDS_TRAINING_STACK)


@pytest.mark.parametrize("size", [320, 416, 640])
@pytest.mark.parametrize("stride", [None, 32])
def test_letterbox_matches_ultralytics(heatmaps, size, stride):
    ours, fit = letterbox(heatmaps[0], size, stride=stride)
    theirs = augment.LetterBox(new_shape=(size, size), auto=stride is not None,
                               stride=stride or 32)(image=heatmaps[0])
    assert ours.shape == (3, *theirs.shape[:2])
    rect_height = {320: 256, 416: 320, 640: 480}[size]
    assert ours.shape[1:] == ((size, size) if stride is None else (rect_height, size))
    np.testing.assert_array_equal(np.rint(ours * 255).astype(np.uint8).transpose(1, 2, 0), theirs)
    height, width = theirs.shape[:2]
    boxes = np.array([[10.0, 20.0, 300.0, 200.0], [0.0, 0.0, width, height]])
    expected = ops.scale_boxes((height, width), torch.tensor(boxes.copy()), (480, 640)).numpy()
    np.testing.assert_allclose(to_source(boxes, fit), expected, atol=1e-4)


def test_selection_matches_ultralytics_nms():
    rng = np.random.default_rng(5)
    anchors = 3000
    centres = rng.uniform(0, 416, (2, anchors))
    sizes = rng.uniform(4, 120, (2, anchors))
    scores = rng.uniform(0, 1, (2, anchors)) ** 6
    raw = np.concatenate([centres, sizes, scores]).astype(np.float32)
    ours = select(raw, confidence=0.25, iou=0.7)
    theirs = nms.non_max_suppression(torch.from_numpy(raw[None]), conf_thres=0.25,
                                     iou_thres=0.7)[0].numpy()
    assert len(ours) > 10
    assert ours.shape == theirs.shape
    order = np.lexsort((ours[:, 0], -ours[:, 4]))
    their_order = np.lexsort((theirs[:, 0], -theirs[:, 4]))
    np.testing.assert_allclose(ours[order], theirs[their_order], atol=1e-3)


def test_selection_of_nothing_is_empty():
    raw = np.zeros((6, 100), dtype=np.float32)
    assert select(raw, confidence=0.25, iou=0.7).shape == (0, 6)
