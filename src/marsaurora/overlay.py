"""Detections drawn on their heatmap, for people who would rather look than read."""

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

BOX_RGB = (80, 255, 120)
TEXT_RGB = (255, 255, 255)


def draw_detections(rgb: np.ndarray, detections: Sequence[dict[str, Any]]) -> np.ndarray:
    """A copy of ``rgb`` with each detection's box and a label: confidence, position, peak.

    ``detections`` are the record's entries (``box_px``, ``confidence`` and,
    once catalogued, ``lat_deg``, ``lon_deg``, ``peak_r``).
    """
    canvas = np.ascontiguousarray(rgb.copy())
    for detection in detections:
        x0, y0, x1, y1 = (int(round(v)) for v in detection["box_px"])
        cv2.rectangle(canvas, (x0, y0), (x1, y1), BOX_RGB, 1)
        label = _label(detection)
        (width, height), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.4, 1)
        top = y0 - 4 if y0 - height - 6 >= 0 else y1 + height + 4
        cv2.rectangle(canvas, (x0, top - height - 2), (x0 + width + 2, top + 2), (0, 0, 0), -1)
        cv2.putText(canvas, label, (x0 + 1, top), cv2.FONT_HERSHEY_SIMPLEX, 0.4, TEXT_RGB, 1,
                    cv2.LINE_AA)
    return canvas


def _label(detection: dict[str, Any]) -> str:
    parts = [f"{detection['confidence']:.2f}"]
    lat, lon, peak = (detection.get(k) for k in ("lat_deg", "lon_deg", "peak_r"))
    if lat is not None and lon is not None:
        parts.append(f"{abs(lat):.0f}{'N' if lat >= 0 else 'S'} {lon:.0f}E")
    if peak is not None:
        parts.append(f"{peak:.1f} R")
    return " ".join(parts)
