"""The YOLO detector: which boxes on a heatmap are Mars and which are auroras.

:class:`Detector` wraps one loaded model (loading costs about a second, so
every mode loads it once per process and reuses it) and answers
:class:`Detection` lists in heatmap pixels.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from marsaurora.detect.backends import Backend, ModelError, OnnxBackend, UltralyticsBackend
from marsaurora.detect.boxes import MIRRORS, merged, mirrored_back

BACKENDS = ("onnx", "ultralytics")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "int8")
"""Which shipped ONNX weights: ``auto`` is int8 on the CPU and fp32 on CUDA."""
SHIPPED_MODEL = "aurora-yolo11n"
"""Stem of the shipped weights (``model/weights/`` in the repository)."""
AURORA_LABEL = "aurora"
DISK_LABEL = "mars"
DEFAULT_CONFIDENCE = 0.25
DEFAULT_IOU = 0.7
VIEWS = (1, 2, 4)
"""How many mirror images of a heatmap the network looks at (:data:`boxes.MIRRORS`, in that
order): which way up a scan is drawn depends on the spacecraft's scan direction and the
file's EMISS orientation, not on Mars, so the answer should not either. A faint aurora the
network boxes in one orientation and not another is found in any: on the OOD calibration
sets 4 views found 9 more of 408 aurora observations than 1 view, and no aurora-free scan
more of 1,677 was called one (docs/screens.md, "Why the detector looks four ways"). The
pipeline asks for them only where a box can still decide
(:func:`marsaurora.pipeline.box_can_decide`)."""
DEFAULT_VIEWS = 4
BOX_DECIMALS = 1
"""Records and events carry boxes to 0.1 px; the catalogue uses boxes at that precision."""
__all__ = ["BACKENDS", "DEFAULT_VIEWS", "DEVICES", "PRECISIONS", "VIEWS", "BoxFinder", "Detection",
           "Detector", "DetectorOptions", "ModelError", "load_detector", "model_file",
           "resolved_precision", "shipped_model"]


@dataclass(frozen=True)
class Detection:
    """One box on a heatmap."""

    label: str
    confidence: float
    box_px: tuple[float, float, float, float]
    """``(x0, y0, x1, y1)`` in heatmap pixels."""

    def to_record(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"label": self.label, "confidence": round(self.confidence, 4),
                "box_px": [round(v, BOX_DECIMALS) for v in self.box_px]}

    def as_recorded(self) -> "Detection":
        """This box as its record carries it: what a step receiving it from an event sees."""
        recorded = self.to_record()
        return Detection(recorded["label"], recorded["confidence"],
                         tuple(float(v) for v in recorded["box_px"]))


class BoxFinder(Protocol):
    """Anything that finds boxes on heatmaps: a :class:`Detector`, or the detect function's
    batching front to one."""

    options: "DetectorOptions"
    """Which model it runs: records name its weights by digest."""

    def detect(self, images: list[np.ndarray], *,
               views: int | None = None) -> list[list[Detection]]:
        """The boxes on each image, seen ``views`` ways (at most ``options.views``; None: that
        many)."""
        ...


@dataclass(frozen=True)
class DetectorOptions:
    """Which model to load, where to run it and how to filter its boxes."""

    model_path: Path | None = None
    """None means the shipped weights (:func:`shipped_model`)."""
    backend: str = "onnx"
    device: str = "auto"
    """``auto`` (CUDA when the backend has it), ``cpu`` or ``cuda``."""
    confidence: float = DEFAULT_CONFIDENCE
    iou: float = DEFAULT_IOU
    threads: int = 0
    """ONNX Runtime intra-op threads; 0 lets it choose."""
    precision: str = "auto"
    """Shipped ONNX weights to use (:data:`PRECISIONS`); ignored with ``model_path``."""
    views: int = 1
    """Mirror images of each heatmap the network looks at (:data:`VIEWS`); 1 is the network
    alone, as trained and as the paper ran it."""


def shipped_model(backend: str = "onnx", precision: str = "fp32") -> Path:
    """The shipped weights: package data of ``marsaurora.weights`` (``model/weights/``).

    For ONNX the float export, or its int8 quantization (``model/quantize.py``)
    with ``precision="int8"``; both install with the package. The ultralytics
    ``.pt`` checkpoint is a training artefact: it is there in a clone (an
    editable install), not in a wheel.
    """
    if backend == "ultralytics":
        name = f"{SHIPPED_MODEL}.pt"
    else:
        name = f"{SHIPPED_MODEL}{'-int8' if precision == 'int8' else ''}.onnx"
    path = Path(str(resources.files("marsaurora.weights") / name))
    if path.is_file():
        return path
    where = ("the .pt checkpoint ships only in the repository (model/weights/); use a clone"
             if backend == "ultralytics" else "the installed package lacks it; reinstall")
    raise ModelError(f"no shipped {name}: {where}, or set AURORA_MODEL_PATH to the weights")


def model_file(options: DetectorOptions) -> Path:
    """The weights these options name, checked to exist."""
    if options.precision not in PRECISIONS:
        raise ModelError(f"unknown AURORA_DETECT_PRECISION {options.precision!r}; "
                         f"choose from {', '.join(PRECISIONS)}")
    path = options.model_path or shipped_model(options.backend, resolved_precision(options))
    if not path.is_file():
        raise ModelError(f"no detector model at {path}; set AURORA_MODEL_PATH to the weights, "
                         "or AURORA_DETECTOR=off to stop after classify")
    return path


def resolved_precision(options: DetectorOptions) -> str:
    """``int8`` where ONNX Runtime will run on the CPU, ``fp32`` on CUDA (where int8 QDQ
    graphs gain nothing) and for ultralytics; an explicit choice is kept."""
    if options.precision != "auto":
        return options.precision
    if options.backend != "onnx" or options.device == "cuda":
        return "fp32"
    if options.device == "cpu":
        return "int8"
    import onnxruntime

    return "fp32" if "CUDAExecutionProvider" in onnxruntime.get_available_providers() else "int8"


class Detector:
    """A loaded model and the thresholds to apply to it."""

    def __init__(self, options: DetectorOptions) -> None:
        if options.backend not in BACKENDS:
            raise ModelError(f"unknown detector backend {options.backend!r}; "
                             f"choose from {', '.join(BACKENDS)}")
        if options.views not in VIEWS:
            raise ModelError(f"the detector looks at {', '.join(map(str, VIEWS))} views of a "
                             f"heatmap, not {options.views}; set AURORA_DETECT_VIEWS to one")
        self.options = options
        path = model_file(options)
        self.backend: Backend = (
            OnnxBackend(path, device=options.device, threads=options.threads)
            if options.backend == "onnx" else UltralyticsBackend(path, device=options.device))
        missing = {AURORA_LABEL, DISK_LABEL} - set(self.backend.names.values())
        if missing:
            raise ModelError(f"{path} does not detect {', '.join(sorted(missing))}; "
                             f"its classes are {sorted(self.backend.names.values())}")

    @property
    def device(self) -> str:
        """Where inference runs: ``cpu`` or ``cuda``."""
        return self.backend.device

    def detect(self, images: Sequence[np.ndarray], *,
               views: int | None = None) -> list[list[Detection]]:
        """Detections for each ``(480, 640, 3)`` RGB heatmap, best first: every view of every
        image in one batch, each image's views merged into one answer. ``views`` asks for
        fewer views than the options' (:func:`marsaurora.pipeline.detect_step` does where
        the screen has already decided)."""
        if not images:
            return []
        mirrors = MIRRORS[:self.options.views if views is None
                          else min(views, self.options.views)]
        found = self.backend.predict(
            [np.ascontiguousarray(np.flip(image, axes)) if axes else image
             for image in images for axes in mirrors],
            confidence=self.options.confidence, iou=self.options.iou)
        raw = []
        for index, image in enumerate(images):
            seen = found[index * len(mirrors):(index + 1) * len(mirrors)]
            raw.append(merged([mirrored_back(boxes, axes, image.shape[:2])
                               for boxes, axes in zip(seen, mirrors, strict=True)],
                              iou=self.options.iou))
        names = self.backend.names
        return [[Detection(label=names[int(row[5])], confidence=float(row[4]),
                           box_px=(float(row[0]), float(row[1]), float(row[2]), float(row[3])))
                 for row in rows] for rows in raw]


@lru_cache(maxsize=2)
def load_detector(options: DetectorOptions) -> Detector:
    """The process's detector for these options, loaded on first use and then reused."""
    return Detector(options)
