"""The whole chain through the local stack: S3 server, function processes and broker."""

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import requests

from marsaurora.config import Settings
from marsaurora.layout import BucketLayout, content_digest
from marsaurora.pipeline import PipelineOptions, process_file
from marsaurora.runner import RECORDS_FILE, discover_inputs, run_batch
from marsaurora.stack.batch import run_via_events, upload
from marsaurora.events import FUNCTIONS
from marsaurora.stack import local
from marsaurora.stack.local import LOCAL_CREDENTIALS, LocalStack, StackError
from marsaurora.storage import Storage
from marsaurora.synth.generate import SynthSpec, generate

from helpers import add_corrupt_inputs, delivered, free_port, without_timings

SETTINGS = Settings()
LAYOUT = BucketLayout.from_settings(SETTINGS)


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> LocalStack:
    with LocalStack(tmp_path_factory.mktemp("stack"), SETTINGS) as running:
        yield running


def _synth(folder: Path, n: int, seed: int) -> list[Path]:
    list(generate(SynthSpec(n=n, seed=seed), folder))
    return discover_inputs([folder])


def _wait_idle(stack: LocalStack, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while stack.broker_stats()["pending"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not stack.broker_stats()["pending"], "broker still has deliveries pending"


def _read_records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.open()]


def test_twenty_observations_end_with_exactly_one_record_each(stack, tmp_path):
    paths = _synth(tmp_path / "in", 17, seed=11)
    broken = add_corrupt_inputs(tmp_path / "in", paths[0])
    paths = discover_inputs([tmp_path / "in"])
    assert len(paths) == 20

    summary = run_via_events(paths, tmp_path / "events", SETTINGS, progress=False, stack=stack)
    run_batch(paths, tmp_path / "embedded", PipelineOptions.from_settings(SETTINGS), workers=1,
              progress=False)

    via_events = _read_records(summary.records_path)
    embedded = _read_records(tmp_path / "embedded" / RECORDS_FILE)
    assert [r["observation"] for r in via_events] == [p.name for p in paths]
    assert [without_timings(r) for r in via_events] == [without_timings(r) for r in embedded]
    assert summary.by_status["error"] == 3

    storage = stack.storage()
    for path, record in zip(paths, via_events, strict=True):
        key = LAYOUT.input_key(path.name)
        assert storage.exists(LAYOUT.record_key(key))
        letters = storage.keys(f"dead-letter/{path.name}/")
        if record["status"] == "error":
            assert path.name in broken and len(letters) == 1
            letter = json.loads(storage.get(letters.pop())[0])
            assert letter["delivery"]["code"] == "400"
            assert letter["delivery"]["reason"]["error"]["message"] == \
                record["error"]["message"][:400]
        else:
            digest = content_digest(path.read_bytes())
            assert storage.exists(LAYOUT.heatmap_key(key, digest))
            assert storage.exists(LAYOUT.scan_key(key, digest))
            assert not letters


def test_a_duplicate_delivery_leaves_no_duplicate(stack, tmp_path):
    path = _synth(tmp_path / "dup", 1, seed=12)[0]
    storage = stack.storage()
    key = LAYOUT.input_key(path.name)
    event = upload(path, storage, LAYOUT)
    stack.send(event)
    _wait_idle(stack)
    everything = storage.keys("")
    record = json.loads(storage.get(LAYOUT.record_key(key))[0])
    delivered = stack.broker_stats()["counts"]["delivered"]

    stack.send(event)
    stack.send(event)
    _wait_idle(stack)
    assert stack.broker_stats()["counts"]["delivered"] >= delivered + 6
    assert storage.keys("") == everything
    again = json.loads(storage.get(LAYOUT.record_key(key))[0])
    assert without_timings(again) == without_timings(record)


def test_a_function_killed_mid_batch_loses_nothing(stack, tmp_path):
    """Preprocess is killed once it has taken its first file of 24, all stored before the first
    is announced: killed after the first record instead, it had sometimes kept pace with the
    slow uploads and finished them all, and the kill interrupted nothing."""
    paths = _synth(tmp_path / "kill", 24, seed=13)
    storage = stack.storage()
    events = [upload(path, storage, LAYOUT) for path in paths]
    wanted = {LAYOUT.record_key(LAYOUT.input_key(path.name)) for path in paths}
    for event in events:
        stack.send(event)
    deadline = time.monotonic() + 30
    while not delivered(stack, "aurora-preprocess") and time.monotonic() < deadline:
        time.sleep(0.01)
    retries_before = stack.broker_stats()["counts"].get("retries", 0)
    stack.kill("preprocess")
    assert 0 < delivered(stack, "aurora-preprocess") < len(paths), "no file left to interrupt"
    time.sleep(1.0)
    stack.start_part("preprocess")
    _wait_idle(stack, timeout_s=90)
    assert storage.keys("records/") >= wanted
    records = [json.loads(storage.get(k)[0]) for k in wanted]
    assert all(r["status"] in ("aurora", "no_aurora") for r in records)
    counts = stack.broker_stats()["counts"]
    assert counts.get("lost", 0) == 0
    assert counts.get("retries", 0) > retries_before, "the kill interrupted no delivery"


def test_stack_refuses_duplicate_file_names(stack, tmp_path):
    path = _synth(tmp_path / "a", 1, seed=14)[0]
    copy = tmp_path / "b" / path.name
    copy.parent.mkdir()
    shutil.copy(path, copy)
    with pytest.raises(ValueError, match="more than once"):
        run_via_events([path, copy], tmp_path / "out", SETTINGS, progress=False, stack=stack)


def test_a_client_with_only_a_broker_url_and_the_bucket_gets_the_records(stack, tmp_path):
    """What `helm test` does on a cluster: upload, send to the Broker, wait for records."""
    paths = _synth(tmp_path / "in", 2, seed=41)
    environment = {**os.environ, "AURORA_S3_ENDPOINT": stack.s3_endpoint,
                   "AWS_ACCESS_KEY_ID": LOCAL_CREDENTIALS[0],
                   "AWS_SECRET_ACCESS_KEY": LOCAL_CREDENTIALS[1]}
    ran = subprocess.run(
        [sys.executable, "-m", "marsaurora.cli", "run", str(tmp_path / "in"), "--out",
         str(tmp_path / "out"), "--via-events", "--broker", stack.broker_url, "--no-progress",
         "--timeout", "120"], capture_output=True, text=True, env=environment, timeout=300)
    assert ran.returncode == 0, ran.stderr
    records = _read_records(tmp_path / "out" / RECORDS_FILE)
    options = PipelineOptions.from_settings(SETTINGS)
    expected = [process_file(path, options).to_json() for path in paths]
    assert [without_timings(r) for r in records] == [without_timings(r) for r in expected]
    refused = subprocess.run(
        [sys.executable, "-m", "marsaurora.cli", "run", str(tmp_path / "in"), "--out",
         str(tmp_path / "out2"), "--via-events", "--broker", f"http://127.0.0.1:{free_port()}",
         "--no-progress"], capture_output=True, text=True, env=environment, timeout=300)
    assert refused.returncode == 1 and "unreachable" in refused.stderr


def test_bucket_init_creates_the_bucket_and_reports_an_unreachable_endpoint(stack, tmp_path):
    environment = {**os.environ, "AURORA_S3_ENDPOINT": stack.s3_endpoint,
                   "AURORA_S3_BUCKET": "made-by-init", "AWS_ACCESS_KEY_ID": "k",
                   "AWS_SECRET_ACCESS_KEY": "s"}
    queue = "arn:aws:sqs:us-east-1:123456789012:aurora-ingest"
    made = subprocess.run([sys.executable, "-m", "marsaurora.cli", "bucket", "init",
                           "--notify-arn", queue], capture_output=True, text=True,
                          env=environment, timeout=60)
    assert made.returncode == 0 and "bucket made-by-init ready" in made.stdout
    check = replace(SETTINGS, s3_endpoint=stack.s3_endpoint, s3_bucket="made-by-init")
    storage = Storage.from_settings(check, credentials=("k", "s"))
    assert storage.reachable()[0]
    notified = storage._client.get_bucket_notification_configuration(Bucket="made-by-init")
    [target] = notified["QueueConfigurations"]
    assert target["QueueArn"] == queue and target["Events"] == ["s3:ObjectCreated:*"]
    assert target["Filter"]["Key"]["FilterRules"] == [{"Name": "prefix",
                                                      "Value": "observations/"}]
    environment["AURORA_S3_ENDPOINT"] = f"http://127.0.0.1:{free_port()}"
    failed = subprocess.run([sys.executable, "-m", "marsaurora.cli", "bucket", "init",
                             "--wait", "1"], capture_output=True, text=True, env=environment,
                            timeout=120)
    assert failed.returncode == 1 and "AURORA_S3_ENDPOINT" in failed.stderr


def test_no_credential_reaches_a_log_a_record_or_a_dead_letter(stack):
    """Runs after the other tests of this module, over everything they left behind."""
    secret = LOCAL_CREDENTIALS[1].encode()
    logs = list((stack.state_dir / "logs").glob("*.log"))
    assert len(logs) >= 8
    for log_file in logs:
        assert secret not in log_file.read_bytes(), log_file.name
    storage = stack.storage()
    documents = storage.keys("records/") | storage.keys("dead-letter/")
    assert documents
    for key in documents:
        assert secret not in storage.get(key)[0], key


def test_a_stack_never_gives_two_parts_one_port(tmp_path):
    stacks = [LocalStack(tmp_path / str(number), SETTINGS) for number in range(20)]
    for stack in stacks:
        ports = [part.port for part in stack.parts.values()]
        assert len(set(ports)) == len(ports)


def test_a_function_port_answered_by_another_function_stops_the_start(tmp_path, monkeypatch):
    """A bench run's broker once sent observation.stored to catalog: catalog held the port
    preprocess was told to use, answered preprocess's readiness probe, and got its events.
    Here catalog already serves the port the stack gives preprocess; the start must stop
    with the clash named, not route events to the wrong function."""
    port = free_port()
    squatter = subprocess.Popen([sys.executable, "-m", "marsaurora.chain.serve", "--stage",
                                 "catalog", "--port", str(port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                requests.get(f"http://127.0.0.1:{port}/health/liveness", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.1)
        real = local._free_ports

        def preprocess_on_the_taken_port(count: int) -> list[int]:
            ports = real(count)
            ports[1 + FUNCTIONS.index("preprocess")] = port
            return ports

        monkeypatch.setattr(local, "_free_ports", preprocess_on_the_taken_port)
        stack = LocalStack(tmp_path, SETTINGS)
        with pytest.raises(StackError, match=f"preprocess's port {port} is answered by catalog"):
            stack.start()
    finally:
        squatter.terminate()
        squatter.wait(timeout=30)


@pytest.mark.parametrize("cores, chosen, expected", [(2, 0, 1), (16, 0, 2), (64, 0, 10),
                                                     (2, 3, 3)])
def test_the_detect_function_gets_a_share_of_the_cores(tmp_path, monkeypatch, cores, chosen,
                                                        expected):
    """Its ONNX Runtime would otherwise spread one image over every core the others need."""
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    stack = LocalStack(tmp_path, replace(SETTINGS, detect_threads=chosen))
    assert stack.parts["detect"].env["AURORA_DETECT_THREADS"] == str(expected)
    assert stack.parts["classify"].env["AURORA_DETECT_THREADS"] == str(chosen)


def test_a_huge_sparse_file_and_odd_names_get_records_and_the_batch_goes_on(stack, tmp_path):
    folder = tmp_path / "in"
    paths = _synth(folder, 2, seed=21)
    huge = folder / "emm_emu_l2b_20230101t000000_0001_os2_sw1of1_f_v01-04.fits.gz"
    with huge.open("wb") as handle:
        handle.truncate(6 << 30)
    odd = folder / os.fsdecode(b"emm_\xff_odd\n.fits.gz")
    shutil.copyfile(paths[0], odd)
    inputs = [paths[0], huge, odd, paths[1]]
    summary = run_via_events(inputs, tmp_path / "events", SETTINGS, progress=False, stack=stack)
    via_events = _read_records(summary.records_path)
    run_batch(inputs, tmp_path / "embedded", PipelineOptions.from_settings(SETTINGS), workers=1,
              progress=False)
    embedded = _read_records(tmp_path / "embedded" / RECORDS_FILE)
    assert [without_timings(r) for r in via_events] == [without_timings(r) for r in embedded]
    assert via_events[1]["error"]["code"] == "too_large"
    assert via_events[2]["status"] == embedded[0]["status"]
