"""The paper's path, written from its description, as the benchmark's baseline.

Pacios et al. (2024) chained Lambda functions through S3: one opened the
FITS file with astropy and drew the heatmap with matplotlib, saved as PNG;
the next resized it to 640x480 with PIL; then it was cropped to the disk
and masked, each step reading the previous PNG and writing a new one; an
OpenCV filter decided, and a YOLO model (PyTorch) ran image by image on
what passed. The file is opened the way such code does it,
``astropy.io.fits.open(path)`` with its defaults, geometry first (the
cheaper order for a gzip file). Each S3 hop is modelled as a PNG encode and
decode in memory, which is kinder to the baseline than a network round
trip. The detector is our own network at our own input size, so the
comparison measures the path, not the model. Runs in one process, one
image at a time.
"""

import io
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from marsaurora.classify.paper import PaperFilterParams, paper_objects
from marsaurora.emus import OI_1304_ROW
from marsaurora.pipeline import timed
from marsaurora.preprocess import DEFAULT_RANGE_R, DISK_CENTRE_PX, DISK_RADIUS_PX

STEPS = ("read", "plot", "resize", "crop", "mask", "classify", "detect")


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
            brightness, on_disk = _read_with_astropy(path)
        with timed(timings, "plot"):
            png = _matplotlib_heatmap(brightness)
        with timed(timings, "resize"):
            png = _png(Image.open(io.BytesIO(png)).convert("RGB").resize((640, 480)))
        with timed(timings, "crop"):
            picture = Image.open(io.BytesIO(png)).convert("RGB")
            rows, cols = np.nonzero(on_disk)
            nint, npix = on_disk.shape
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


def _read_with_astropy(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The 130.4 nm brightness ``(nint, npix)`` and the on-disk mask, read plainly."""
    from astropy.io import fits

    with fits.open(path) as hdul:
        geometry = hdul["FOV_GEOM"].data
        on_disk = np.isfinite(geometry["LAT"][:, 0, :]) & np.isfinite(geometry["LON"][:, 0, :])
        emiss = hdul["EMISS"].data
        names = [" ".join(str(name).split()) for name in emiss["NAME"]]
        brightness = np.array(emiss["RADIANCE"][names.index(OI_1304_ROW)], dtype=np.float32)
    return (brightness if brightness.shape == on_disk.shape else brightness.T), on_disk


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
