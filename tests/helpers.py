"""Helpers the tests share (fixtures stay in conftest.py): synthetic data, servers, records."""

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
import contextlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
import requests
from astropy.io import fits

from marsaurora.preprocess import EXCESS_VIEW_NIGHT_R, HeatmapFrame, colour_table, log_scaled
from marsaurora.synth.generate import SynthSpec, file_name, generate
from marsaurora.synth.scene import Scene
from marsaurora.synth.writer import write_l2b

START = datetime(2022, 3, 31, 21, 21, 7)
# Why a test that needs torch or ultralytics skips: scripts/_env.sh leaves them out on a
# short disk (the "test-core" extra).
NEEDS_TRAINING_STACK = "needs the training stack: pip install -e '.[train]'"


def scenario_folder(root: Path, scenario: str, n: int, seed: int) -> Path:
    """Generate ``n`` uncompressed files of one scenario under ``root``."""
    folder = root / scenario
    list(generate(SynthSpec(n=n, seed=seed, scenarios=(scenario,), compress=False), folder))
    return folder


def write_scene(scene: Scene, folder: Path, **options: object) -> Path:
    """Write ``scene`` as a compressed L2B file with an EMUS-convention name."""
    path = folder / file_name(START, "osr", "sw1of1")
    write_l2b(scene, path, start_utc=START, **options)
    return path


def flat_night_colour(frame: HeatmapFrame) -> np.ndarray:
    """The RGB an excess view gives a searched pixel of no excess on ``frame``'s colour scale:
    its uniform night's, as the heatmap maps a brightness to a colour level."""
    low, high = frame.log_range_r
    level = np.rint(log_scaled(np.array([EXCESS_VIEW_NIGHT_R]), min_r=low, max_r=high) * 254) + 1
    return colour_table(cv2.COLORMAP_INFERNO)[int(level[0])]


def rewrite(source: Path, target: Path, change) -> Path:
    """Copy an L2B file through ``change(hdulist)``, to make broken variants."""
    with fits.open(source) as hdul:
        hdul = fits.HDUList([hdu.copy() for hdu in hdul])
    change(hdul)
    hdul.writeto(target, overwrite=True)
    return target


@contextmanager
def serving(argv: list[str], port: int, health_path: str,
            env: dict[str, str]) -> Iterator[str]:
    """Run a server process until the block ends; yield its URL once ``health_path`` answers."""
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(url + health_path)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def serve_function(folder: Path, env: dict[str, str]) -> contextlib.AbstractContextManager[str]:
    """A function folder served as its container serves it, on a free port."""
    port = free_port()
    return serving([sys.executable, "-m", "marsaurora.chain.serve", str(folder), "--port",
                    str(port)], port, "/health/liveness", {**os.environ, **env})


def add_corrupt_inputs(folder: Path, good: Path) -> set[str]:
    """Write three broken L2B files beside ``good`` (all zeros after a gzip magic, not FITS,
    truncated); return their names."""
    broken = {
        "emm_emu_l2b_20230101t000000_0001_os2_sw1of1_f_v01-04.fits.gz": b"\x1f\x8b" + b"\0" * 99,
        "emm_emu_l2b_20230101t000100_0001_os2_sw1of1_f_v01-04.fits": b"not a FITS file",
        "emm_emu_l2b_20230101t000200_0001_os2_sw1of1_f_v01-04.fits.gz":
            good.read_bytes()[: good.stat().st_size // 3],
    }
    for name, body in broken.items():
        (folder / name).write_bytes(body)
    return set(broken)


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_http(url: str, timeout_s: float = 30.0) -> None:
    """Block until ``url`` answers at all."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout_s} s")


def delivered(stack, trigger: str) -> int:
    """Events the local stack's broker has delivered through ``trigger`` (its ``/stats``)."""
    return stack.broker_stats()["latency_ms"].get(trigger, {}).get("n", 0)


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    """``rows`` as a JSON-lines file (records, truth), one object a line; returns ``path``."""
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def without_timings(record: dict) -> dict:
    """A record minus its timings, which differ from run to run."""
    return {key: value for key, value in record.items() if key != "timings_ms"}


def serve_on_loopback(handler: type) -> tuple[http.server.ThreadingHTTPServer, str]:
    """Serve ``handler`` on a free loopback port from a background thread; return the server
    (for ``shutdown``) and its base URL, ``http://127.0.0.1:<port>``, without a slash."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


class EventSink:
    """An HTTP server that records each CloudEvent's subject; can be told to fail."""

    def __init__(self) -> None:
        self.subjects: list[str] = []
        self.status = 202
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                self.rfile.read(int(self.headers.get("content-length", 0)))
                if sink.status == 202:
                    sink.subjects.append(self.headers["ce-subject"])
                    assert self.headers["ce-type"] == "marsaurora.observation.stored"
                self.send_response(sink.status)
                self.end_headers()

            def log_message(self, *args) -> None:
                return

        self.server, base = serve_on_loopback(Handler)
        self.url = f"{base}/"

    def wait_for(self, count: int, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.subjects) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.subjects) >= count, self.subjects


class TcpProxy:
    """A loopback TCP proxy that can be cut: while down, connections are refused."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._connections: list[socket.socket] = []
        self.up()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def up(self) -> None:
        """Listen again and forward every connection to the upstream port."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        """Stop listening (new connections are refused) and cut open ones."""
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        for connection in self._connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            connection.close()
        self._connections.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            except OSError:
                client.close()
                continue
            self._connections += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                end.close()
