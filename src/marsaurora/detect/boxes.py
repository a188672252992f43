"""The detector's pre- and post-processing, written to match ultralytics exactly.

Training letterboxes each image into a square (aspect kept, grey 114 padding,
centred), the network answers ``(batch, 4 + classes, anchors)`` with centre
and size boxes and per-class scores, and predictions are filtered by
confidence and per-class non-maximum suppression. Any other resize or NMS
would feed the network pictures it never saw in training, so these follow
``ultralytics.data.augment.LetterBox``, ``ultralytics.utils.ops.scale_boxes``
and ``non_max_suppression``; the tests compare the two on the shipped model.
"""

from dataclasses import dataclass

import cv2
import numpy as np

PAD_VALUE = 114
CLASS_OFFSET_PX = 7680.0
"""Per-class NMS by shifting each class's boxes apart (ultralytics' ``max_wh``)."""


@dataclass(frozen=True)
class Letterbox:
    """How one image was fitted into the square network input."""

    gain_x: float
    gain_y: float
    pad_x: int
    pad_y: int
    source_shape: tuple[int, int]
    """``(height, width)`` of the original image."""


def letterbox(rgb: np.ndarray, size: int, *,
              stride: int | None = None) -> tuple[np.ndarray, Letterbox]:
    """Resize ``rgb`` to fit ``size x size`` (aspect kept) and pad it, centred.

    With ``stride``, pad only up to the next multiple of it instead of to the
    square (ultralytics' ``auto`` mode, which its PyTorch predictor uses): a
    640x480 heatmap at 416 becomes 416x320 instead of 416x416, 23% less work.

    Returns the ``(3, height, width)`` float32 network input (RGB, 0-1) and
    the transform needed to map boxes back.
    """
    height, width = rgb.shape[:2]
    ratio = min(size / height, size / width)
    new_w, new_h = max(round(width * ratio), 1), max(round(height * ratio), 1)
    pad_w, pad_h = size - new_w, size - new_h
    if stride:
        pad_w, pad_h = pad_w % stride, pad_h % stride
    pad_w, pad_h = pad_w / 2, pad_h / 2
    top, bottom = round(pad_h - 0.1), round(pad_h + 0.1)
    left, right = round(pad_w - 0.1), round(pad_w + 0.1)
    resized = rgb if (width, height) == (new_w, new_h) else cv2.resize(
        rgb, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    padded = cv2.copyMakeBorder(resized, top, bottom, left, right, cv2.BORDER_CONSTANT,
                                value=(PAD_VALUE,) * 3)
    tensor = np.ascontiguousarray(padded.transpose(2, 0, 1), dtype=np.float32) / 255.0
    return tensor, Letterbox(new_w / width, new_h / height, left, top, (height, width))


def to_source(boxes_xyxy: np.ndarray, fit: Letterbox) -> np.ndarray:
    """Boxes from network-input pixels back to the original image, clipped to it."""
    boxes = boxes_xyxy.astype(np.float64, copy=True)
    boxes[:, [0, 2]] = (boxes[:, [0, 2]] - fit.pad_x) / fit.gain_x
    boxes[:, [1, 3]] = (boxes[:, [1, 3]] - fit.pad_y) / fit.gain_y
    height, width = fit.source_shape
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
    return boxes


def select(prediction: np.ndarray, *, confidence: float, iou: float,
           max_detections: int = 300) -> np.ndarray:
    """Confidence filter and per-class NMS of one image's raw output.

    Parameters
    ----------
    prediction : numpy.ndarray
        ``(4 + classes, anchors)``: ``cx, cy, w, h`` then one score per class.

    Returns
    -------
    numpy.ndarray
        ``(n, 6)``: ``x0, y0, x1, y1, confidence, class``, best first.
    """
    scores = prediction[4:]
    classes = scores.argmax(axis=0)
    best = scores[classes, np.arange(scores.shape[1])]
    keep = best > confidence
    if not keep.any():
        return np.zeros((0, 6))
    cx, cy, w, h = prediction[:4, keep].astype(np.float64)
    boxes = np.column_stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
    best, classes = best[keep].astype(np.float64), classes[keep]
    chosen = _per_class_nms(boxes, best, classes, iou)[:max_detections]
    return np.column_stack([boxes[chosen], best[chosen], classes[chosen]])


MIRRORS: tuple[tuple[int, ...], ...] = ((), (1,), (0,), (0, 1))
"""The image axes flipped in each view of a heatmap: as drawn, left-right, upside down, both."""


def mirrored_back(boxes: np.ndarray, axes: tuple[int, ...],
                  shape: tuple[int, int]) -> np.ndarray:
    """``(n, 6)`` boxes found on the image flipped along ``axes``, in the unflipped image's
    pixels (``shape`` is its ``(height, width)``)."""
    boxes = boxes.copy()
    height, width = shape
    if 1 in axes:
        boxes[:, [0, 2]] = width - boxes[:, [2, 0]]
    if 0 in axes:
        boxes[:, [1, 3]] = height - boxes[:, [3, 1]]
    return boxes


def merged(views: list[np.ndarray], *, iou: float) -> np.ndarray:
    """The boxes of several views of one image as one answer: per-class NMS over them all,
    best first, as :func:`select` treats the boxes of one view."""
    boxes = np.concatenate(views) if views else np.zeros((0, 6))
    if len(views) < 2 or not boxes.size:
        return boxes
    return boxes[_per_class_nms(boxes[:, :4], boxes[:, 4], boxes[:, 5], iou)]


def _per_class_nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray,
                   threshold: float) -> np.ndarray:
    """Indices kept by :func:`_nms` run per class: each class's boxes are shifted
    :data:`CLASS_OFFSET_PX` apart so that boxes of different classes never overlap."""
    return _nms(boxes + (classes * CLASS_OFFSET_PX)[:, None], scores, threshold)


def _nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """Greedy NMS as torchvision does it: drop boxes overlapping a better one by > threshold."""
    order = np.argsort(-scores, kind="stable")
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    kept: list[int] = []
    while order.size:
        top, rest = order[0], order[1:]
        kept.append(int(top))
        x0 = np.maximum(boxes[top, 0], boxes[rest, 0])
        y0 = np.maximum(boxes[top, 1], boxes[rest, 1])
        x1 = np.minimum(boxes[top, 2], boxes[rest, 2])
        y1 = np.minimum(boxes[top, 3], boxes[rest, 3])
        overlap = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
        union = areas[top] + areas[rest] - overlap
        order = rest[overlap / np.where(union > 0, union, 1) <= threshold]
    return np.array(kept, dtype=int)
