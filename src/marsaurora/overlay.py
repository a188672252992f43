"""Auroras drawn on their heatmap, for people who would rather look than read."""

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

BOX_RGB = {"both": (80, 255, 120), "detector": (80, 200, 255), "screen": (255, 210, 80)}
TEXT_RGB = (255, 255, 255)
FONT = cv2.FONT_HERSHEY_SIMPLEX
FONT_SCALE = 0.42
MARGIN_PX = 2


def draw_detections(rgb: np.ndarray, detections: Sequence[dict[str, Any]]) -> np.ndarray:
    """A copy of ``rgb`` with each aurora's box and one label, placed so labels never overlap.

    ``detections`` are the record's entries (``box_px`` and, once
    catalogued, ``decided_by``, ``confidence``, ``lat_deg``, ``lon_deg``,
    ``peak_r``). The label starts with the row's number in the catalogue;
    the box colour says which evidence decided (green both, blue the
    detector, amber the screen alone). Every box is drawn before any label,
    so a neighbour's box never runs through a label's text.
    """
    canvas = np.ascontiguousarray(rgb.copy())
    height, width = canvas.shape[:2]
    boxes = [tuple(int(round(float(np.clip(v, -1e4, 1e4)))) for v in detection["box_px"])
             for detection in detections]
    for (x0, y0, x1, y1), detection in zip(boxes, detections, strict=True):
        colour = BOX_RGB.get(str(detection.get("decided_by")), BOX_RGB["detector"])
        cv2.rectangle(canvas, (x0, y0), (x1, y1), colour, 1)
    taken: list[tuple[int, int, int, int]] = []
    for index, ((x0, y0, _, y1), detection) in enumerate(zip(boxes, detections, strict=True)):
        label = _label(index, detection)
        (text_w, text_h), _ = cv2.getTextSize(label, FONT, FONT_SCALE, 1)
        left, top = _place(x0, y0, y1, text_w, text_h, width, height, taken)
        right, bottom = left + text_w + 2 * MARGIN_PX, top + text_h + 2 * MARGIN_PX
        taken.append((left, top, right, bottom))
        cv2.rectangle(canvas, (left, top), (right, bottom), (0, 0, 0), -1)
        cv2.putText(canvas, label, (left + MARGIN_PX, top + text_h + MARGIN_PX - 1), FONT,
                    FONT_SCALE, TEXT_RGB, 1, cv2.LINE_AA)
    return canvas


def _place(x0: int, y0: int, y1: int, text_w: int, text_h: int, width: int, height: int,
           taken: list[tuple[int, int, int, int]]) -> tuple[int, int]:
    """Top-left of a label: above the box, else below it, moved down past earlier labels
    (``taken``: their corners, both inclusive) with a pixel row of the heatmap between; moved
    up past them instead where down would leave the image."""
    box_h = text_h + 2 * MARGIN_PX
    box_w = text_w + 2 * MARGIN_PX
    left = int(np.clip(x0, 0, max(width - box_w - 1, 0)))
    lowest = max(height - box_h - 1, 0)

    def clear_of_labels(top: int, downwards: bool) -> int:
        for _ in range(len(taken) + 1):
            clash = [t for t in taken if left <= t[2] + 1 and t[0] <= left + box_w + 1
                     and top <= t[3] + 1 and t[1] <= top + box_h + 1]
            if not clash:
                break
            top = (max(t[3] for t in clash) + 2 if downwards
                   else min(t[1] for t in clash) - box_h - 2)
        return top

    top = clear_of_labels(y0 - box_h - 1 if y0 - box_h - 1 >= 0 else y1 + 2, downwards=True)
    if top > lowest:
        top = clear_of_labels(lowest, downwards=False)
    return left, int(np.clip(top, 0, lowest))


def _label(index: int, detection: dict[str, Any]) -> str:
    parts = [f"#{index + 1}"]
    lat, lon, peak = (detection.get(k) for k in ("lat_deg", "lon_deg", "peak_r"))
    if lat is not None and lon is not None:
        parts.append(place_text(lat, lon))
    if peak is not None:
        parts.append(f"{peak:.1f} R")
    confidence = detection.get("confidence")
    if confidence is not None:
        parts.append(f"p{confidence:.2f}")
    return " ".join(parts)


def place_text(lat_deg: float, lon_deg: float) -> str:
    """``12S 210E``: where an aurora is, as its label and the demo's table write it."""
    return f"{abs(lat_deg):.0f}{'N' if lat_deg >= 0 else 'S'} {lon_deg:.0f}E"
