"""Functions as their containers run them: ready only when they can work."""

from contextlib import AbstractContextManager
import time
from pathlib import Path

import pytest
import requests

from helpers import free_port, serve_function
from marsaurora.config import Settings
from marsaurora.storage import Storage

ROOT = Path(__file__).resolve().parents[2]


def _serving(function: str, endpoint: str, **env: str) -> AbstractContextManager[str]:
    """Serve ``functions/<function>`` against the S3 ``endpoint``; yields its URL."""
    return serve_function(ROOT / "functions" / function, {
        "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AURORA_S3_ENDPOINT": endpoint,
        "AURORA_S3_BUCKET": "health", **env})


def _ready_within(url: str, timeout_s: float) -> requests.Response:
    deadline = time.monotonic() + timeout_s
    while True:
        answer = requests.get(url + "/health/readiness", timeout=5)
        if answer.status_code == 200 or time.monotonic() > deadline:
            return answer
        time.sleep(0.1)


@pytest.fixture(scope="module")
def bucket(s3_server: str) -> str:
    """An endpoint whose ``health`` bucket exists."""
    Storage.from_settings(Settings(s3_endpoint=s3_server, s3_bucket="health"),
                          credentials=("x", "x")).ensure_bucket()
    return s3_server


def test_detect_is_ready_once_its_model_is_loaded(bucket):
    with _serving("detect", bucket) as url:
        answer = _ready_within(url, 60)
        assert answer.status_code == 200
        assert answer.text == "model loaded (onnx on cpu); bucket health reachable"


def test_detect_without_its_model_stays_unready_and_says_why(bucket, tmp_path):
    with _serving("detect", bucket, AURORA_MODEL_PATH=str(tmp_path / "absent.onnx")) as url:
        answer = _ready_within(url, 3)
        assert answer.status_code == 503 and "absent.onnx" in answer.text
        assert requests.get(url + "/health/liveness", timeout=5).status_code == 200


def test_a_stage_is_ready_only_while_its_bucket_answers(bucket):
    with _serving("classify", bucket) as url:
        answer = requests.get(url + "/health/readiness", timeout=5)
        assert answer.status_code == 200 and answer.text == "bucket health reachable"
    with _serving("classify", f"http://127.0.0.1:{free_port()}") as url:
        answer = requests.get(url + "/health/readiness", timeout=30)
        assert answer.status_code == 503 and "AURORA_S3_ENDPOINT" in answer.text


def test_a_function_refuses_an_oversized_body_before_reading_it(bucket):
    with _serving("classify", bucket) as url:
        answer = requests.post(url + "/", data=b"x" * (2 << 20), timeout=30,
                               headers={"ce-type": "marsaurora.heatmap.ready",
                                        "ce-source": "/x", "ce-id": "1",
                                        "ce-specversion": "1.0"})
        assert answer.status_code == 413
        assert "Traceback" not in answer.text
