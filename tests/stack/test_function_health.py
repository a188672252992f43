"""The detect function as its container runs it: readiness waits for the model."""

import os
import subprocess
import sys
import time
from pathlib import Path

import requests

from conftest import free_port, wait_for_http

ROOT = Path(__file__).resolve().parents[2]


def _serve(function: str, **env: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "marsaurora.stack.serve", str(ROOT / "functions" / function),
         "--port", str(port)],
        env={**os.environ, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
             "AURORA_S3_ENDPOINT": "http://127.0.0.1:9", **env},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_for_http(url + "/health/liveness")
    return process, url


def _ready_within(url: str, timeout_s: float) -> requests.Response:
    deadline = time.monotonic() + timeout_s
    while True:
        answer = requests.get(url + "/health/readiness", timeout=5)
        if answer.status_code == 200 or time.monotonic() > deadline:
            return answer
        time.sleep(0.1)


def test_detect_is_ready_once_its_model_is_loaded():
    process, url = _serve("detect")
    try:
        answer = _ready_within(url, 60)
        assert answer.status_code == 200 and "model loaded (onnx on cpu)" in answer.text
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_detect_without_its_model_stays_unready_and_says_why(tmp_path):
    process, url = _serve("detect", AURORA_MODEL_PATH=str(tmp_path / "absent.onnx"))
    try:
        answer = _ready_within(url, 3)
        assert answer.status_code == 503 and "absent.onnx" in answer.text
        assert requests.get(url + "/health/liveness", timeout=5).status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_stages_without_a_model_are_ready_at_once():
    process, url = _serve("classify")
    try:
        answer = requests.get(url + "/health/readiness", timeout=5)
        assert answer.status_code == 200 and answer.text == "ready"
    finally:
        process.terminate()
        process.wait(timeout=10)
