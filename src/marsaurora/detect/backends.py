"""Run the detector network: ONNX Runtime (default) or ultralytics' own PyTorch path.

Both take a batch of RGB heatmaps and answer, per image, an ``(n, 6)`` array
of ``x0, y0, x1, y1, confidence, class`` in that image's pixels. ONNX Runtime
needs no PyTorch (the detect image stays small) and reaches a GPU through its
CUDA provider; ultralytics stays selectable as the reference the ONNX path is
tested against. Measured speeds are in ``model/MODEL_CARD.md``.
"""

import ast
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from marsaurora.detect.boxes import letterbox, select, to_source


class ModelError(RuntimeError):
    """The model file is missing, unreadable, or not a detector we can run."""


class Backend(Protocol):
    """What the detector needs from an inference engine."""

    names: dict[int, str]
    imgsz: int
    device: str

    def predict(self, images: Sequence[np.ndarray], *, confidence: float,
                iou: float) -> list[np.ndarray]:
        """Detections per image: ``(n, 6)`` arrays, best first."""
        ...


class OnnxBackend:
    """An ultralytics ONNX export under ONNX Runtime, on CUDA when present."""

    def __init__(self, path: Path, *, device: str = "auto", threads: int = 0) -> None:
        import onnxruntime as ort

        if not path.is_file():
            raise ModelError(f"no detector model at {path}; set AURORA_MODEL_PATH to the "
                             "shipped model/weights/aurora-yolo11n.onnx or your own export")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        """Idle threads sleep instead of spinning: spinning nearly doubled the CPU per image
        for a little latency, CPU the other stages need (figures in docs/performance.md)."""
        providers = _providers(device, ort.get_available_providers())
        try:
            self.session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as exc:  # noqa: BLE001 - ONNX Runtime raises its own untyped errors
            raise ModelError(f"ONNX Runtime cannot load {path}: {exc}") from exc
        self.device = "cuda" if "CUDAExecutionProvider" in self.session.get_providers() else "cpu"
        meta = self.session.get_modelmeta().custom_metadata_map
        try:
            self.names = {int(k): str(v) for k, v in ast.literal_eval(meta["names"]).items()}
            self.imgsz = int(ast.literal_eval(meta["imgsz"])[0])
            stride = int(meta.get("stride", "32"))
        except (KeyError, ValueError, SyntaxError) as exc:
            raise ModelError(f"{path} lacks ultralytics' names/imgsz metadata; export it with "
                             "model/train.py or ultralytics' export(format='onnx')") from exc
        model_input = self.session.get_inputs()[0]
        self.input_name = model_input.name
        self.fixed_batch = model_input.shape[0]
        dynamic_size = not all(isinstance(d, int) for d in model_input.shape[2:])
        self.stride = stride if dynamic_size else None
        """Pad to a stride multiple (as ultralytics' PyTorch predictor) when the export
        accepts any size; a fixed-size export gets the square it was exported for."""

    def predict(self, images: Sequence[np.ndarray], *, confidence: float,
                iou: float) -> list[np.ndarray]:
        """Letterbox, run one batch (or one image at a time for fixed-batch exports), select."""
        same_shape = len({image.shape for image in images}) == 1
        stride = self.stride if same_shape else None
        fitted = [letterbox(image, self.imgsz, stride=stride) for image in images]
        tensors = np.stack([tensor for tensor, _ in fitted])
        if isinstance(self.fixed_batch, int):
            outputs = np.concatenate([self.session.run(None, {self.input_name: t[None]})[0]
                                      for t in tensors])
        else:
            outputs = self.session.run(None, {self.input_name: tensors})[0]
        results = []
        for output, (_, fit) in zip(outputs, fitted, strict=True):
            chosen = select(output, confidence=confidence, iou=iou)
            chosen[:, :4] = to_source(chosen[:, :4], fit)
            results.append(chosen)
        return results


class UltralyticsBackend:
    """ultralytics' own ``predict`` on a ``.pt`` (or any format it loads).

    Unless the caller says otherwise, ultralytics is kept offline and from
    installing packages: a detector must not reach for the network.
    """

    def __init__(self, path: Path, *, device: str = "auto") -> None:
        os.environ.setdefault("YOLO_OFFLINE", "1")
        os.environ.setdefault("YOLO_AUTOINSTALL", "False")
        try:
            from ultralytics import YOLO
        except ImportError as exc:
            raise ModelError("the ultralytics backend needs the 'train' extra: "
                             "pip install 'marsaurora[train]'") from exc
        if not path.is_file():
            raise ModelError(f"no detector model at {path}; set AURORA_MODEL_PATH")
        self.model = YOLO(str(path), task="detect")
        self.names = {int(k): str(v) for k, v in self.model.names.items()}
        self.imgsz = int(self.model.overrides.get("imgsz") or 416)
        self.device = "cpu" if device == "auto" and not _cuda_available() else (
            "cuda" if device == "auto" else device)

    def predict(self, images: Sequence[np.ndarray], *, confidence: float,
                iou: float) -> list[np.ndarray]:
        """ultralytics expects BGR arrays, as OpenCV reads them."""
        results = self.model.predict([np.ascontiguousarray(image[..., ::-1]) for image in images],
                                     imgsz=self.imgsz, conf=confidence, iou=iou,
                                     device=self.device, verbose=False)
        return [np.column_stack([r.boxes.xyxy.cpu().numpy(), r.boxes.conf.cpu().numpy(),
                                 r.boxes.cls.cpu().numpy()]).astype(np.float64)
                for r in results]


def _providers(device: str, available: Sequence[str]) -> list[str]:
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device == "cuda" and "CUDAExecutionProvider" not in available:
        raise ModelError("AURORA_DETECT_DEVICE=cuda but this ONNX Runtime has no CUDA provider; "
                         "install onnxruntime-gpu or use auto")
    cuda = ["CUDAExecutionProvider"] if "CUDAExecutionProvider" in available else []
    return [*cuda, "CPUExecutionProvider"]


def _cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())
