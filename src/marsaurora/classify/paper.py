"""The paper's OpenCV filter (Pacios et al. 2024), kept faithful for comparison.

Heatmap -> circular disk mask (radius 170 px at (320, 230)) -> grayscale ->
Gaussian adaptive threshold (block 11, C 2) -> erosion with a 4x4 kernel ->
count the objects inside the disk; fewer than two means "no candidate".

Measured on synthetic EMUS scans (``docs/screens.md``), the object count
follows how much of the disk is dark, not whether an aurora is there: the log
of near-zero night brightness is speckle, which thresholds into hundreds of
objects. It is a day/night gate. ``min_object_area_px`` and a smaller
``mask_radius_px`` are the two knobs that make it reject dayside scans.
"""

from dataclasses import dataclass

import cv2
import numpy as np

from marsaurora.classify.result import Candidate, ScreenResult
from marsaurora.knobs import knob
from marsaurora.preprocess import Heatmap


@dataclass(frozen=True)
class PaperFilterParams:
    """The filter's constants; the defaults are the paper's."""

    mask_centre_px: tuple[float, float] = (320.0, 230.0)
    mask_radius_px: int = knob(
        170, "Paper filter: radius of the circular disk mask in the 640x480 heatmap.",
        minimum=1)
    block_size_px: int = 11
    threshold_offset: float = 2.0
    erosion_px: int = 4
    min_objects: int = 2
    min_object_area_px: int = knob(
        0, "Paper filter: objects smaller than this many heatmap pixels are not "
        "counted (0 counts every object, as in the paper).", minimum=0)


def paper_filter(heatmap: Heatmap, params: PaperFilterParams = PaperFilterParams()) -> ScreenResult:
    """Count thresholded objects inside the disk mask of the heatmap."""
    objects = [_candidate(heatmap, bbox, area) for bbox, area in paper_objects(heatmap.rgb, params)]
    passed = len(objects) >= params.min_objects
    stats_out = {"objects": float(len(objects)),
                 "object_pixels": float(sum(c.area_heatmap_px or 0 for c in objects))}
    return ScreenResult(screen="paper", candidates=tuple(objects) if passed else (),
                        stats=stats_out)


def paper_objects(rgb: np.ndarray, params: PaperFilterParams = PaperFilterParams()
                  ) -> list[tuple[tuple[int, int, int, int], int]]:
    """The filter on any RGB picture: each counted object's inclusive box and pixel area.

    Separate from :func:`paper_filter` so the benchmark's paper-faithful path
    runs the very same OpenCV steps on its own PNG-decoded images.
    """
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    binary = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_GAUSSIAN_C,
                                   cv2.THRESH_BINARY, params.block_size_px,
                                   params.threshold_offset)
    mask = np.zeros_like(gray)
    centre = tuple(int(round(c)) for c in params.mask_centre_px)
    cv2.circle(mask, centre, int(params.mask_radius_px), 255, thickness=-1)
    binary &= mask
    kernel = np.ones((params.erosion_px, params.erosion_px), np.uint8)
    eroded = cv2.erode(binary, kernel)
    count, _, stats, centroids = cv2.connectedComponentsWithStats(eroded, connectivity=8)
    objects = []
    radius_sq = params.mask_radius_px**2
    for label in range(1, count):
        x, y, w, h, area = (int(v) for v in stats[label])
        cx, cy = centroids[label]
        inside = (cx - centre[0]) ** 2 + (cy - centre[1]) ** 2 <= radius_sq
        if inside and area >= params.min_object_area_px:
            objects.append(((x, y, x + w - 1, y + h - 1), area))
    return objects


def _candidate(heatmap: Heatmap, bbox: tuple[int, int, int, int], area: int) -> Candidate:
    x0, y0, x1, y1 = bbox
    integ = heatmap.integration[y0:y1 + 1, x0:x1 + 1]
    slit = heatmap.slit_pixel[y0:y1 + 1, x0:x1 + 1]
    seen = integ >= 0
    if seen.any():
        integration_range = (int(integ[seen].min()), int(integ[seen].max()))
        slit_range = (int(slit[seen].min()), int(slit[seen].max()))
    else:
        integration_range = slit_range = (-1, -1)
    return Candidate(integration_range=integration_range, slit_pixel_range=slit_range,
                     bbox_px=bbox, area_heatmap_px=area)
