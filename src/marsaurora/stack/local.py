"""Start and stop the local stack: S3 server, one process per function, the broker.

Every part is a separate process talking HTTP on loopback, as on a cluster,
so a test can kill one and restart it. Logs go to ``<state>/logs/<name>.log``.
"""

import os
import socket
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from types import TracebackType

import requests
from cloudevents.http import CloudEvent

from marsaurora.config import Settings, env_name
from marsaurora.detect import ModelError, model_file
from marsaurora.events import FUNCTION_HEADER, FUNCTIONS, SERVICE_PREFIX
from marsaurora.pipeline import PipelineOptions
from marsaurora.chain.remote import ChainUnreachable, post_event
from marsaurora.stack.containers import FunctionImages
from marsaurora.storage import Storage

LOCAL_CREDENTIALS = ("aurora-local", "aurora-local-secret")
"""The local S3 server accepts any credentials; these keep real ones out of it."""
MALLOC_ARENAS = "2"
"""glibc's malloc arenas for the threaded function servers: 2, not 8 per core, which cut
each function's peak memory by about a fifth (docs/performance.md)."""
LOOPBACK_CHECKSUMS = {"AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
                      "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required"}
"""Every byte of the local stack stays on loopback, where the SDK's optional CRC32 of each
body guards nothing but costs CPU on both sides. A cluster keeps the SDK's default."""
S3_SPILL_BYTES = 64 << 10
"""Objects above this size go to temporary files in the S3 server, not its memory."""


def detect_threads(settings: Settings) -> int:
    """ONNX Runtime threads of the stack's detect function: as set, else one share of the
    cores per function.

    Left to choose, ONNX Runtime takes every core for one image, while here the other
    functions and the S3 server want the same cores; one thread also costs less CPU per
    image (docs/performance.md).
    """
    return settings.detect_threads or max(1, (os.cpu_count() or 1) // len(FUNCTIONS))


class StackError(RuntimeError):
    """The local stack could not start, or a part of it stopped."""


@dataclass
class _Part:
    name: str
    argv: list[str]
    env: dict[str, str]
    port: int
    health_path: str
    process: subprocess.Popen | None = field(default=None, repr=False)
    images: FunctionImages | None = None
    """Set when the part is a function container, removed by name when it stops."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def manifests() -> Path:
    """The folder of Broker and Trigger manifests the broker routes by: package data
    (``marsaurora.eventing``, the repository's ``eventing/``)."""
    return Path(str(resources.files("marsaurora.eventing")))


class LocalStack:
    """The whole chain on loopback; use as a context manager."""

    def __init__(self, state_dir: Path, settings: Settings, *, broker_port: int = 0,
                 s3_port: int = 0, functions_s3_endpoint: str = "",
                 images: FunctionImages | None = None) -> None:
        """``functions_s3_endpoint``: where the functions reach S3, when not directly at the
        stack's server (a proxy in between, to cut the link in fault tests). ``images``:
        run the functions from their container images instead of as processes."""
        self.state_dir = state_dir
        self.settings = settings
        self.images = images
        (state_dir / "logs").mkdir(parents=True, exist_ok=True)
        (state_dir / "s3-spill").mkdir(parents=True, exist_ok=True)
        ports = iter(_free_ports(len(FUNCTIONS) + 2))
        s3_port = s3_port or next(ports)
        base_env = {**os.environ, **settings.to_env(),
                    "AURORA_S3_ENDPOINT": functions_s3_endpoint or f"http://127.0.0.1:{s3_port}",
                    "AWS_ACCESS_KEY_ID": LOCAL_CREDENTIALS[0],
                    "AWS_SECRET_ACCESS_KEY": LOCAL_CREDENTIALS[1],
                    "AWS_EC2_METADATA_DISABLED": "true", "PYTHONUNBUFFERED": "1",
                    "MALLOC_ARENA_MAX": MALLOC_ARENAS, **LOOPBACK_CHECKSUMS}
        self.parts: dict[str, _Part] = {}
        self.parts["s3"] = _Part(
            "s3", [sys.executable, "-m", "marsaurora.stack.s3server", "--port", str(s3_port)],
            {**base_env, "MOTO_S3_DEFAULT_KEY_BUFFER_SIZE": str(S3_SPILL_BYTES),
             "TMPDIR": str(state_dir / "s3-spill")}, s3_port, "/")
        stage_env = {stage: base_env for stage in FUNCTIONS}
        stage_env["detect"] = {**base_env,
                               env_name("detect_threads"): str(detect_threads(settings))}
        for stage in FUNCTIONS:
            port = next(ports)
            argv = ([sys.executable, "-m", "marsaurora.chain.serve", "--stage", stage,
                     "--port", str(port)] if images is None
                    else images.argv(stage, port, stage_env[stage]))
            self.parts[stage] = _Part(stage, argv, stage_env[stage], port, "/health/readiness",
                                      images=images)
        broker_port = broker_port or next(ports)
        services = [f"--service={SERVICE_PREFIX}{stage}={self.parts[stage].url}"
                    for stage in FUNCTIONS]
        self.parts["broker"] = _Part(
            "broker", [sys.executable, "-m", "marsaurora.stack.broker",
                       "--eventing", str(manifests()),
                       "--journal", str(state_dir / "broker-journal.sqlite"),
                       "--port", str(broker_port), "--log-level", settings.log_level, *services],
            base_env, broker_port, "/healthz")

    @property
    def broker_url(self) -> str:
        """Where to POST CloudEvents."""
        return self.parts["broker"].url

    @property
    def s3_endpoint(self) -> str:
        """The S3 endpoint URL of the local bucket."""
        return self.parts["s3"].url

    def storage(self) -> Storage:
        """A client of the stack's bucket."""
        settings = replace(self.settings, s3_endpoint=self.s3_endpoint)
        return Storage.from_settings(settings, credentials=LOCAL_CREDENTIALS, checksums=False)

    def start(self) -> "LocalStack":
        """Start every part and wait until each answers; stop all if one fails."""
        if self.images is not None and (missing := self.images.missing()):
            raise StackError(missing)
        detector = PipelineOptions.from_settings(self.settings).detector
        if detector is not None:
            try:
                model_file(detector)
            except ModelError as exc:
                raise StackError(str(exc)) from None
        try:
            self.start_part("s3")
            self.storage().ensure_bucket()
            for stage in FUNCTIONS:
                self.start_part(stage, wait=False)
            for stage in FUNCTIONS:
                self._wait_ready(self.parts[stage])
            self.start_part("broker")
        except BaseException:
            self.stop()
            raise
        return self

    def start_part(self, name: str, *, wait: bool = True) -> None:
        """(Re)start one part on its port; log output is appended to its log file."""
        part = self.parts[name]
        if part.process is not None and part.process.poll() is None:
            return
        log_file = (self.state_dir / "logs" / f"{name}.log").open("ab")
        part.process = subprocess.Popen(part.argv, env=part.env, stdout=log_file,
                                        stderr=subprocess.STDOUT, cwd=self.state_dir)
        log_file.close()
        if wait:
            self._wait_ready(part)

    def kill(self, name: str) -> None:
        """Kill one part at once (SIGKILL), as a crash would."""
        process = self.parts[name].process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        _remove_container(self.parts[name])

    def peak_rss_mb(self) -> dict[str, float]:
        """Each running part's peak resident memory so far (Linux ``VmHWM``), MB."""
        peaks = {}
        for name, status in self._proc_files("status").items():
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    peaks[name] = round(int(line.split()[1]) / 1024, 1)
        return peaks

    def cpu_s(self) -> dict[str, float]:
        """Each running part's CPU time so far (user + system, Linux ``stat``), seconds."""
        ticks = os.sysconf("SC_CLK_TCK")
        return {name: round(sum(int(v) for v in stat.rpartition(")")[2].split()[11:13]) / ticks, 2)
                for name, stat in self._proc_files("stat").items()}

    def _proc_files(self, which: str) -> dict[str, str]:
        texts = {}
        for name, part in self.parts.items():
            if part.process is None or part.process.poll() is not None:
                continue
            try:
                texts[name] = Path(f"/proc/{part.process.pid}/{which}").read_text()
            except OSError:
                continue
        return texts

    def stop(self) -> None:
        """Stop every part: SIGTERM, then SIGKILL after five seconds."""
        for part in reversed(list(self.parts.values())):
            if part.process is not None and part.process.poll() is None:
                part.process.terminate()
        for part in self.parts.values():
            if part.process is not None:
                try:
                    part.process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    part.process.kill()
                    part.process.wait(timeout=5)
            _remove_container(part)

    def stopped_parts(self) -> list[str]:
        """Parts whose process has exited."""
        return [name for name, part in self.parts.items()
                if part.process is None or part.process.poll() is not None]

    def send(self, event: CloudEvent) -> None:
        """POST one event to the broker in binary mode."""
        try:
            post_event(self.broker_url, event)
        except ChainUnreachable as exc:
            raise StackError(str(exc)) from None

    def broker_stats(self) -> dict:
        """The broker's ``/stats``."""
        return requests.get(f"{self.broker_url}/stats", timeout=5).json()

    def latency_ms(self) -> dict[str, dict[str, float]]:
        """Per Trigger, from the broker accepting an event to its subscriber answering."""
        return self.broker_stats()["latency_ms"]

    @property
    def logs_hint(self) -> str:
        """Where to look when a record does not arrive."""
        return f"the stage logs are in {self.state_dir / 'logs'}"

    def __enter__(self) -> "LocalStack":
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    def _wait_ready(self, part: _Part, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        last = ""
        while time.monotonic() < deadline:
            if part.process is None or part.process.poll() is not None:
                raise StackError(f"{part.name} exited while starting; see "
                                 f"{self.state_dir / 'logs' / (part.name + '.log')}:\n"
                                 f"{self._log_tail(part.name)}")
            try:
                answer = requests.get(part.url + part.health_path, timeout=1)
                _check_identity(part, answer)
                if answer.status_code < 500:
                    return
                last = f" (last answer: {answer.status_code} {answer.text[:200]})"
            except requests.RequestException:
                last = ""
            time.sleep(0.1)
        raise StackError(f"{part.name} was not ready on {part.url} within {timeout_s:.0f} s"
                         f"{last}; see {self.state_dir / 'logs' / (part.name + '.log')}")

    def _log_tail(self, name: str, lines: int = 15) -> str:
        path = self.state_dir / "logs" / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def _check_identity(part: _Part, answer: requests.Response) -> None:
    """A function's port must be answered by that function: another process that took the
    port in between would get its events."""
    if part.name not in FUNCTIONS:
        return
    answered_by = answer.headers.get(FUNCTION_HEADER)
    if answered_by != part.name:
        raise StackError(f"{part.name}'s port {part.port} is answered by "
                         f"{answered_by or 'something that is not one of our functions'}; "
                         "another process took the port: start the stack again")


def _remove_container(part: _Part) -> None:
    """A killed ``podman run`` client leaves its container running; remove it by name."""
    if part.images is not None and part.process is not None:
        part.images.remove(part.name, part.port)


def _free_ports(count: int) -> list[int]:
    """``count`` different free loopback ports. The probes stay bound until all are taken:
    one probe at a time, closed before the next, can be handed the same port twice, and two
    functions told one port had the first to bind answer the other's readiness probe and
    events (a bench run's broker once sent observation.stored to catalog)."""
    with ExitStack() as held:
        probes = [held.enter_context(socket.socket()) for _ in range(count)]
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]
