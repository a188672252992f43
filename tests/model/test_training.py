"""The training scripts still run end to end: a handful of images, one epoch, an ONNX export."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from marsaurora.detect import Detector, DetectorOptions

from helpers import NEEDS_TRAINING_STACK

ROOT = Path(__file__).resolve().parents[2]
pytest.importorskip("ultralytics", reason=NEEDS_TRAINING_STACK)


def _run(script: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("YOLO_")}
    return subprocess.run([sys.executable, str(ROOT / "model" / script), *args], env=env,
                          capture_output=True, text=True, timeout=600, check=False)


def test_dataset_then_one_epoch_of_training_gives_a_loadable_detector(tmp_path):
    data = tmp_path / "data"
    built = _run("dataset.py", "--out", str(data), "--n-train", "4", "--n-val", "2",
                 "--n-test", "2", "--seed-train", "11", "--workers", "1")
    assert built.returncode == 0, built.stderr[-2000:]
    for split in ("train", "val", "test"):
        images = sorted((data / split / "images").glob("*.png"))
        labels = sorted((data / split / "labels").glob("*.txt"))
        assert [p.stem for p in images] == [p.stem for p in labels] and images
        for label in labels:
            rows = np.loadtxt(label, ndmin=2)
            assert rows.shape[1] == 5 and set(rows[:, 0]) <= {0, 1}
            assert ((rows[:, 1:] > 0) & (rows[:, 1:] <= 1)).all()
    stats = json.loads((data / "stats.json").read_text())
    assert stats["train"] == {**stats["train"], "seed": 11, "n": 4}

    trained = _run("train.py", "--data", str(data / "dataset.yaml"), "--epochs", "1",
                   "--imgsz", "160", "--batch", "2", "--workers", "0", "--name", "smoke",
                   "--out", str(tmp_path / "weights"), "--runs", str(tmp_path / "runs"),
                   "--config-dir", str(tmp_path / "config"))
    assert trained.returncode == 0, trained.stderr[-3000:]
    metrics = json.loads((tmp_path / "weights" / "smoke.metrics.json").read_text())
    assert metrics["epochs"] == 1 and set(metrics["test"]["all"]) >= {"mAP50", "precision"}
    assert (tmp_path / "config" / "Arial.ttf").stat().st_size > 10_000
    detector = Detector(DetectorOptions(model_path=tmp_path / "weights" / "smoke.onnx"))
    assert set(detector.backend.names.values()) == {"mars", "aurora"}
    assert detector.backend.imgsz == 160
    assert len(detector.detect([np.zeros((480, 640, 3), np.uint8)])) == 1

    quantized = _run("quantize.py", "--model", str(tmp_path / "weights" / "smoke.onnx"),
                     "--data", str(data / "dataset.yaml"), "--calibration", "2",
                     "--imgsz", "160", "--runs", str(tmp_path / "runs"),
                     "--config-dir", str(tmp_path / "config"))
    assert quantized.returncode == 0, quantized.stderr[-3000:]
    int8 = tmp_path / "weights" / "smoke-int8.onnx"
    report = json.loads(int8.with_suffix(".metrics.json").read_text())
    assert report["calibration_images"] == 2 and report["float_nodes"] > 0
    assert set(report["test"]) == {"smoke.onnx", "smoke-int8.onnx"}
    assert 0 < int8.stat().st_size < (tmp_path / "weights" / "smoke.onnx").stat().st_size
    assert len(Detector(DetectorOptions(model_path=int8)).detect(
        [np.zeros((480, 640, 3), np.uint8)])) == 1
