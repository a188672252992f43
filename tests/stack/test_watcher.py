"""The archive watcher against a real HTTP archive, a real S3 server and a recording sink."""

import http.server
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from functools import partial
from pathlib import Path

import pytest

from helpers import EventSink as Sink, free_port, serve_on_loopback
from marsaurora.config import Settings
from marsaurora.storage import Storage

MONTH = "emu/l2b/osr/2022/03"


@pytest.fixture()
def archive(tmp_path):
    """A folder served as Apache-style directory listings over HTTP."""
    root = tmp_path / "archive"
    (root / MONTH).mkdir(parents=True)
    handler = partial(_QuietHandler, directory=str(root))
    server, base = serve_on_loopback(handler)
    yield root, f"{base}/emu/l2b/"
    server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        return


def _add(root: Path, n: int, start: int) -> list[str]:
    names = []
    for index in range(start, start + n):
        name = f"emm_emu_l2b_20220301t{index:06d}_0100_osr_sw1of1_r_v01-04.fits.gz"
        (root / MONTH / name).write_bytes(f"observation {index}".encode())
        names.append(name)
    return names


def _environment(s3_server: str, bucket: str) -> dict[str, str]:
    return {**os.environ, "AURORA_S3_ENDPOINT": s3_server, "AURORA_S3_BUCKET": bucket,
            "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "AURORA_LOG_LEVEL": "WARNING"}


def _watch(url: str, sink: Sink, environment: dict, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "marsaurora.cli", "watch", url, "--sink",
                             sink.url, *extra], env=environment, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_each_file_is_announced_exactly_once_across_polls_and_a_restart(archive, s3_server):
    root, url = archive
    bucket = f"w-{uuid.uuid4().hex[:10]}"
    storage = Storage.from_settings(Settings(s3_endpoint=s3_server, s3_bucket=bucket),
                                    credentials=("k", "s"))
    storage.ensure_bucket()
    environment = _environment(s3_server, bucket)
    sink = Sink()
    expected = _add(root, 2, 0)
    (root / MONTH / "README.txt").write_text("not an observation")

    once = _watch(url, sink, environment, "--once")
    assert once.wait(60) == 0, once.stderr.read()
    assert "2 listed, 2 announced, 0 failed" in once.stdout.read()

    watcher = _watch(url, sink, environment, "--interval", "0.3")
    expected += _add(root, 3, 10)
    sink.wait_for(5)
    watcher.send_signal(signal.SIGTERM)
    assert watcher.wait(30) == 0
    expected += _add(root, 2, 20)
    time.sleep(0.5)
    restarted = _watch(url, sink, environment, "--interval", "0.3")
    sink.wait_for(7)
    time.sleep(1.0)
    restarted.send_signal(signal.SIGTERM)
    assert restarted.wait(30) == 0

    assert sorted(sink.subjects) == sorted(expected)
    for name in expected:
        body, _ = storage.get(f"observations/osr/2022/03/{name}")
        assert body == (root / MONTH / name).read_bytes()
    seen = {}
    for key in sorted(storage.keys("watcher/")):
        seen.update(json.loads(storage.get(key)[0])["seen"])
    assert len(seen) == len(expected)


def test_a_refusing_sink_leaves_the_file_for_the_next_poll(archive, s3_server):
    root, url = archive
    bucket = f"w-{uuid.uuid4().hex[:10]}"
    Storage.from_settings(Settings(s3_endpoint=s3_server, s3_bucket=bucket),
                          credentials=("k", "s")).ensure_bucket()
    environment = _environment(s3_server, bucket)
    sink = Sink()
    names = _add(root, 1, 0)
    sink.status = 503
    failed = _watch(url, sink, environment, "--once")
    assert failed.wait(60) == 1
    assert "0 announced, 1 failed" in failed.stdout.read()
    sink.status = 202
    again = _watch(url, sink, environment, "--once")
    assert again.wait(60) == 0
    assert sink.subjects == names


def test_watch_needs_a_sink_and_a_reachable_source(tmp_path):
    environment = {k: v for k, v in os.environ.items() if k != "K_SINK"}
    done = subprocess.run([sys.executable, "-m", "marsaurora.cli", "watch", str(tmp_path)],
                          capture_output=True, text=True, env=environment, timeout=60)
    assert done.returncode == 2 and "K_SINK" in done.stderr
    port = free_port()
    done = subprocess.run([sys.executable, "-m", "marsaurora.cli", "watch",
                           f"http://127.0.0.1:{port}/emu/", "--sink", "http://127.0.0.1:9/",
                           "--once"], capture_output=True, text=True,
                          env={**environment, "AURORA_S3_ENDPOINT": f"http://127.0.0.1:{port}",
                               "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"},
                          timeout=120)
    assert done.returncode == 1 and "aurora:" in done.stderr
