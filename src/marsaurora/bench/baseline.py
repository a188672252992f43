"""The paper's path, written from its description, as the benchmark's baseline.

Pacios et al. (2024) chained Lambda functions through S3: one drew the
heatmap with matplotlib and saved it as PNG, the next resized it to 640x480
with PIL, then it was cropped to the disk and masked, each step reading the
previous PNG and writing a new one; an OpenCV filter decided, and a YOLO
model (PyTorch) ran image by image on what passed. Each S3 hop is modelled
as a PNG encode and decode in memory, which is kinder to the baseline than
a network round trip. Runs in one process, one image at a time.
"""

import io
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from marsaurora.classify.paper import PaperFilterParams, paper_objects
from marsaurora.emus import read_l2b
from marsaurora.pipeline import timed
from marsaurora.preprocess import DEFAULT_RANGE_R, DISK_CENTRE_PX, DISK_RADIUS_PX

STAGES = ("read", "plot", "resize", "crop", "mask", "classify", "detect")


class BaselinePath:
    """The paper's steps, with the ultralytics model loaded once."""

    def __init__(self, weights: Path, imgsz: int = 416) -> None:
        import matplotlib

        matplotlib.use("Agg")
        from ultralytics import YOLO

        self.model = YOLO(str(weights), task="detect")
        self.imgsz = imgsz

    def process(self, path: Path) -> dict[str, Any]:
        """One file through every step; per-step milliseconds and the outcome."""
        from PIL import Image, ImageDraw

        timings: dict[str, float] = {}
        with timed(timings, "read"):
            observation = read_l2b(path)
        with timed(timings, "plot"):
            png = _matplotlib_heatmap(observation.brightness_r)
        with timed(timings, "resize"):
            png = _png(Image.open(io.BytesIO(png)).convert("RGB").resize((640, 480)))
        with timed(timings, "crop"):
            picture = Image.open(io.BytesIO(png)).convert("RGB")
            rows, cols = np.nonzero(observation.on_disk)
            nint, npix = observation.shape
            box = (int(cols.min() * 640 / npix), int(rows.min() * 480 / nint),
                   int((cols.max() + 1) * 640 / npix), int((rows.max() + 1) * 480 / nint))
            canvas = Image.new("RGB", (640, 480))
            canvas.paste(picture.crop(box).resize((340, 340)), (150, 60))
            png = _png(canvas)
        with timed(timings, "mask"):
            picture = Image.open(io.BytesIO(png)).convert("RGB")
            mask = Image.new("L", (640, 480), 0)
            cx, cy = DISK_CENTRE_PX
            ImageDraw.Draw(mask).ellipse((cx - DISK_RADIUS_PX, cy - DISK_RADIUS_PX,
                                          cx + DISK_RADIUS_PX, cy + DISK_RADIUS_PX), fill=255)
            png = _png(Image.composite(picture, Image.new("RGB", (640, 480)), mask))
        with timed(timings, "classify"):
            bgr = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
            passed = len(paper_objects(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB),
                                       PaperFilterParams())) >= 2
        boxes = 0
        if passed:
            with timed(timings, "detect"):
                result = self.model.predict(bgr, imgsz=self.imgsz, verbose=False, device="cpu")
                boxes = len(result[0].boxes)
        return {"timings_ms": timings, "passed": passed, "boxes": boxes}


def _matplotlib_heatmap(brightness: np.ndarray) -> bytes:
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 4.8), dpi=100)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_axis_off()
    low, high = DEFAULT_RANGE_R
    axes.imshow(np.clip(brightness, low, high), norm=LogNorm(low, high), cmap="inferno",
                aspect="auto", interpolation="nearest")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _png(picture: Any) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()
