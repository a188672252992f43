"""The shipped model through our ONNX path, against ultralytics' own predictions."""

import threading
from dataclasses import replace

import numpy as np
import pytest

from marsaurora.detect import Detector, DetectorOptions, ModelError, model_file, shipped_model
from marsaurora.detect.service import BatchingDetector

from helpers import NEEDS_TRAINING_STACK


def _iou(a, b) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    overlap = max(x1 - x0, 0) * max(y1 - y0, 0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - overlap
    return overlap / union if union > 0 else 0.0


def _assert_same(ours, theirs, *, box_px: float, confidence: float) -> None:
    assert [d.label for d in ours] == [d.label for d in theirs]
    for mine, reference in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(mine.box_px, reference.box_px, atol=box_px)
        assert abs(mine.confidence - reference.confidence) <= confidence


def test_the_shipped_model_finds_the_disk_and_the_auroras(onnx_options, heatmaps):
    found = Detector(onnx_options).detect(heatmaps)
    assert all(any(d.label == "mars" for d in image) for image in found)
    assert all(any(d.label == "aurora" for d in image) for image in found[:4])
    assert not any(d.label == "aurora" for image in found[4:] for d in image)


def test_onnx_path_matches_ultralytics_pytorch_predictions(onnx_options, heatmaps):
    """Same letterbox (a 32-multiple rectangle), ONNX Runtime against PyTorch numerics.

    A low threshold, so that many boxes (not only the confident ones) are compared.
    """
    pytest.importorskip("ultralytics", reason=NEEDS_TRAINING_STACK)
    ours = Detector(replace(onnx_options, confidence=0.05)).detect(heatmaps)
    theirs = Detector(DetectorOptions(model_path=shipped_model("ultralytics"),
                                      backend="ultralytics", device="cpu",
                                      confidence=0.05)).detect(heatmaps)
    compared = 0
    for mine, reference in zip(ours, theirs, strict=True):
        for wanted in (d for d in reference if d.confidence >= 0.1):
            twins = [d for d in mine if d.label == wanted.label
                     and _iou(d.box_px, wanted.box_px) > 0.98]
            assert twins, f"no ONNX box matches ultralytics' {wanted}"
            assert min(abs(d.confidence - wanted.confidence) for d in twins) < 0.01
            compared += 1
    assert compared >= len(heatmaps)


def test_onnx_path_matches_ultralytics_on_the_same_onnx_file(onnx_options, heatmaps):
    """ultralytics letterboxes a dynamic-size ONNX export as we do: the same numbers."""
    pytest.importorskip("ultralytics", reason=NEEDS_TRAINING_STACK)
    ours = Detector(replace(onnx_options, confidence=0.05)).detect(heatmaps)
    theirs = Detector(DetectorOptions(model_path=onnx_options.model_path, backend="ultralytics",
                                      device="cpu", confidence=0.05)).detect(heatmaps)
    assert sum(len(found) for found in ours) >= len(heatmaps)
    for mine, reference in zip(ours, theirs, strict=True):
        _assert_same(mine, reference, box_px=0.05, confidence=1e-4)


def test_one_batch_answers_like_one_image_at_a_time(onnx_options, heatmaps):
    detector = Detector(onnx_options)
    batched = detector.detect(heatmaps)
    for image, together in zip(heatmaps, batched, strict=True):
        _assert_same(detector.detect([image])[0], together, box_px=0.01, confidence=1e-5)


def _answers_once_loaded(service, heatmaps, views_of) -> dict[int, list]:
    """Each heatmap asked of ``service`` from its own thread (``views_of(index)`` views)
    while the model is not loaded yet, then the model started: the answers by index."""
    answers: dict[int, list] = {}
    threads = [threading.Thread(target=lambda i=i: answers.__setitem__(
        i, service.detect([heatmaps[i]], views=views_of(i))[0])) for i in range(len(heatmaps))]
    for thread in threads:
        thread.start()
    while service.waiting < len(heatmaps):
        threading.Event().wait(0.01)
    service.start()
    for thread in threads:
        thread.join(timeout=60)
    return answers


def test_waiting_requests_run_as_one_batch_once_the_model_loads(onnx_options, heatmaps):
    service = BatchingDetector(onnx_options, max_batch=4, start=False)
    assert service.readiness() == (False, "loading the detector model")
    answers = _answers_once_loaded(service, heatmaps, lambda i: None)
    assert service.batch_sizes[:2] == [4, 2]
    assert service.readiness()[0]
    alone = Detector(onnx_options)
    for i in range(6):
        _assert_same(answers[i], alone.detect([heatmaps[i]])[0], box_px=0.01, confidence=1e-5)


def test_a_missing_model_says_what_to_set(tmp_path):
    with pytest.raises(ModelError, match="AURORA_MODEL_PATH"):
        Detector(DetectorOptions(model_path=tmp_path / "nope.onnx"))
    service = BatchingDetector(DetectorOptions(model_path=tmp_path / "nope.onnx"))
    with pytest.raises(ModelError, match="nope.onnx"):
        service.detect([np.zeros((480, 640, 3), np.uint8)], timeout_s=30)
    ready, reason = service.readiness()
    assert not ready and "nope.onnx" in reason


def test_a_file_that_is_not_a_model_is_refused_clearly(tmp_path):
    bogus = tmp_path / "bogus.onnx"
    bogus.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="cannot load"):
        Detector(DetectorOptions(model_path=bogus))


def test_int8_weights_find_what_the_float_weights_find(onnx_options, heatmaps):
    """The quantized network gives every confident float box, and no confident extra one."""
    float_boxes = Detector(onnx_options).detect(heatmaps)
    int8 = replace(onnx_options, model_path=shipped_model("onnx", "int8"))
    int8_boxes = Detector(int8).detect(heatmaps)
    for first, second in ((float_boxes, int8_boxes), (int8_boxes, float_boxes)):
        for mine, other in zip(first, second, strict=True):
            for wanted in (d for d in mine if d.confidence >= 0.5):
                assert any(d.label == wanted.label and _iou(d.box_px, wanted.box_px) > 0.7
                           for d in other), f"no twin for {wanted}"


@pytest.mark.parametrize("device, precision, expected", [
    ("cpu", "auto", "aurora-yolo11n-int8.onnx"),
    ("cuda", "auto", "aurora-yolo11n.onnx"),
    ("cpu", "fp32", "aurora-yolo11n.onnx"),
    ("cuda", "int8", "aurora-yolo11n-int8.onnx"),
])
def test_precision_chooses_the_shipped_weights(device, precision, expected):
    options = DetectorOptions(device=device, precision=precision)
    assert model_file(options).name == expected


def test_precision_is_ignored_for_explicit_weights_and_checked(onnx_options):
    assert model_file(replace(onnx_options, precision="int8")) == onnx_options.model_path
    with pytest.raises(ModelError, match="AURORA_DETECT_PRECISION"):
        model_file(DetectorOptions(precision="int4"))


def _mirrored(detections, shape, axes):
    """Detections on a heatmap flipped along ``axes``, moved back onto the heatmap."""
    height, width = shape
    moved = []
    for d in detections:
        x0, y0, x1, y1 = d.box_px
        if 1 in axes:
            x0, x1 = width - x1, width - x0
        if 0 in axes:
            y0, y1 = height - y1, height - y0
        moved.append((d.label, d.confidence, (x0, y0, x1, y1)))
    return sorted(moved)


@pytest.mark.parametrize("axes", [(1,), (0,), (0, 1)])
def test_four_views_find_the_same_boxes_however_the_heatmap_is_drawn(onnx_options, heatmaps,
                                                                     axes):
    """A scan drawn mirrored (the other scan direction or EMISS orientation) is the same Mars."""
    detector = Detector(replace(onnx_options, confidence=0.05, views=4))
    drawn = detector.detect(heatmaps)
    mirrored = detector.detect([np.ascontiguousarray(np.flip(h, axes)) for h in heatmaps])
    for image, straight, flipped in zip(heatmaps, drawn, mirrored, strict=True):
        expected = _mirrored(straight, image.shape[:2], ())
        got = _mirrored(flipped, image.shape[:2], axes)
        assert [label for label, _, _ in got] == [label for label, _, _ in expected]
        for (_, confidence, box), (_, wanted_confidence, wanted_box) in zip(got, expected,
                                                                            strict=True):
            assert abs(confidence - wanted_confidence) < 1e-4
            np.testing.assert_allclose(box, wanted_box, atol=0.05)


def test_more_views_keep_every_box_of_one_or_a_better_one(onnx_options, heatmaps):
    one = Detector(replace(onnx_options, confidence=0.05, views=1)).detect(heatmaps)
    four = Detector(replace(onnx_options, confidence=0.05, views=4)).detect(heatmaps)
    assert sum(map(len, four)) >= sum(map(len, one))
    for single, merged in zip(one, four, strict=True):
        for box in single:
            assert any(d.label == box.label and d.confidence >= box.confidence - 1e-6
                       and _iou(d.box_px, box.box_px) > onnx_options.iou
                       for d in merged), box


def test_a_view_count_the_detector_cannot_make_is_refused(onnx_options):
    with pytest.raises(ModelError, match="AURORA_DETECT_VIEWS"):
        Detector(replace(onnx_options, views=3))


def _boxes(found):
    return [(d.label, round(d.confidence, 4), tuple(round(v, 1) for v in d.box_px)) for d in found]


def test_the_detect_step_looks_four_ways_only_where_a_box_can_decide(onnx_options, heatmaps):
    """Over candidates the screen alone calls auroras a box changes nothing found, so the
    network looks once; with one it would not call, every way the options allow."""
    from marsaurora.fusion import FusionParams
    from marsaurora.pipeline import detect_step
    from marsaurora.record import ObservationRecord

    detector = Detector(replace(onnx_options, confidence=0.05, views=4))
    fusion = FusionParams()
    differing = 0
    for image in heatmaps:
        once, four_ways = (_boxes(detector.detect([image], views=views)[0]) for views in (1, 4))
        differing += once != four_ways
        for candidates, expected in (([{"significance": 40.0}], once),
                                     ([{"significance": 40.0}, {"significance": 7.0}],
                                      four_ways),
                                     ([{"significance": 9.0, "clean_night": True}], once),
                                     ([{"significance": 9.0, "clean_night": False}], four_ways),
                                     ([{"significance": 40.0, "area_detector_px": 900,
                                        "contrast": 0.3, "past_terminator": True}], four_ways),
                                     ([{"significance": 40.0, "area_detector_px": 900,
                                        "contrast": 2.0, "past_terminator": True}], once),
                                     ([{"significance": 40.0, "area_detector_px": 900,
                                        "contrast": 0.3, "past_terminator": False}], once),
                                     ([{}], four_ways)):
            record = ObservationRecord("scan.fits", candidates=candidates)
            assert _boxes(detect_step(image, detector, record, fusion)) == expected
    assert differing, "no fixture heatmap tells one view from four"


def test_the_batching_service_runs_each_number_of_views_as_asked(onnx_options, heatmaps):
    options = replace(onnx_options, confidence=0.05, views=4)
    service = BatchingDetector(options, max_batch=6, start=False)
    answers = _answers_once_loaded(service, heatmaps, lambda i: 1 if i % 2 else None)
    assert service.batch_sizes == [6]
    alone = Detector(options)
    for i in range(6):
        expected = alone.detect([heatmaps[i]], views=1 if i % 2 else 4)[0]
        _assert_same(answers[i], expected, box_px=0.01, confidence=1e-5)


def test_the_excess_views_boxes_count_only_at_the_detectors_own_confidence(onnx_options,
                                                                           heatmaps):
    """The network sees the heatmap and the excess view in one batch, each as many ways as a
    box can use; of the excess view's boxes only those of ``confident`` or more come back,
    after all the heatmap's own (weak ones included)."""
    from marsaurora.fusion import FusionParams
    from marsaurora.pipeline import detect_step
    from marsaurora.record import ObservationRecord

    detector = Detector(replace(onnx_options, confidence=0.05, views=4))
    undecided = [{"significance": 7.0}]
    kept = dropped = 0
    for heatmap, view in zip(heatmaps, heatmaps[1:] + heatmaps[:1], strict=True):
        own, seen = (detector.detect([image], views=4)[0] for image in (heatmap, view))
        found = detect_step(heatmap, detector, ObservationRecord("scan.fits", candidates=undecided),
                            FusionParams(), 0.25, excess_rgb=view)
        confident = [box for box in seen if box.confidence >= 0.25]
        assert _boxes(found) == _boxes(own) + _boxes(confident)
        kept += len(confident)
        dropped += len(seen) - len(confident)
    assert kept and dropped, "the fixture heatmaps test the confidence floor neither way"
