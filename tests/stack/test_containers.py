"""The chain with its functions in the built images, run the way Knative runs them.

Needs podman and the images of ``scripts/build-images.sh``. Without them the
test is skipped, unless ``AURORA_REQUIRE_IMAGES=1`` (``scripts/container-check.sh``
sets it after building them), where their absence fails it.
"""

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests

from marsaurora.config import Settings
from marsaurora.pipeline import PipelineOptions
from marsaurora.provenance import software_identity
from marsaurora.runner import RECORDS_FILE, discover_inputs, run_batch
from marsaurora.stack.batch import run_via_events
from marsaurora.stack.containers import CONTAINER_USER, FunctionImages
from marsaurora.stack.local import LocalStack, StackError
from marsaurora.synth.generate import SynthSpec, generate

from helpers import add_corrupt_inputs, free_port, without_timings

ROOT = Path(__file__).resolve().parents[2]
IMAGES = FunctionImages()
SETTINGS = Settings()


@pytest.fixture(scope="module")
def images_ready() -> None:
    message = IMAGES.missing()
    if message:
        if os.environ.get("AURORA_REQUIRE_IMAGES") == "1":
            pytest.fail(message)
        pytest.skip(message)


def _records(path) -> list[dict]:
    return [without_timings(json.loads(line)) for line in path.read_text().splitlines()]


def test_the_chain_runs_from_the_images_as_knative_would(images_ready, tmp_path):
    list(generate(SynthSpec(n=17, seed=21), tmp_path / "in"))
    broken = add_corrupt_inputs(tmp_path / "in", discover_inputs([tmp_path / "in"])[0])
    paths = discover_inputs([tmp_path / "in"])
    assert len(paths) == 20
    run_batch(paths, tmp_path / "embedded", PipelineOptions.from_settings(SETTINGS), workers=1,
              progress=False)

    with LocalStack(tmp_path / ".stack", SETTINGS, images=IMAGES) as stack:
        for function in ("preprocess", "detect"):
            name = IMAGES.container_name(function, stack.parts[function].port)
            shown = json.loads(subprocess.run([IMAGES.engine, "inspect", name],
                                              capture_output=True, text=True, timeout=60,
                                              check=True).stdout)[0]
            assert shown["Config"]["User"] == CONTAINER_USER
            assert shown["HostConfig"]["ReadonlyRootfs"] is True
            assert shown["ImageName"].endswith(IMAGES.image_of(function))
            assert shown["HostConfig"]["SecurityOpt"] == ["no-new-privileges"]
        summary = run_via_events(paths, tmp_path / "events", SETTINGS, progress=False,
                                 stack=stack)
        names = [IMAGES.container_name(f, stack.parts[f].port) for f in ("classify", "detect")]
    via_images = _records(summary.records_path)
    made_by = {r["provenance"]["software"] for r in via_images if r.get("provenance")}
    assert made_by == {software_identity()}, "images of other code: run scripts/build-images.sh"
    assert via_images == _records(tmp_path / "embedded" / RECORDS_FILE)
    assert {r["observation"] for r in via_images if r["status"] == "error"} == broken
    gone = subprocess.run([IMAGES.engine, "ps", "--all", "--format", "{{.Names}}"],
                          capture_output=True, text=True, timeout=60, check=True).stdout
    assert not set(names) & set(gone.split()), "a function container outlived the stack"


def test_a_container_is_not_ready_until_its_bucket_answers(images_ready, tmp_path):
    port, closed = free_port(), free_port()
    env = {**os.environ, **SETTINGS.to_env(), "AURORA_S3_ENDPOINT": f"http://127.0.0.1:{closed}",
           "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"}
    runner = subprocess.Popen(IMAGES.argv("classify", port, env), env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        answer = None
        deadline = time.monotonic() + 60
        while answer is None and time.monotonic() < deadline:
            try:
                answer = requests.get(f"http://127.0.0.1:{port}/health/readiness", timeout=5)
            except requests.ConnectionError:
                time.sleep(0.2)
        assert answer is not None, "the container never answered"
        assert answer.status_code == 503
    finally:
        runner.terminate()
        IMAGES.remove("classify", port)
        runner.wait(timeout=30)


@pytest.mark.parametrize("image", [IMAGES.stage, IMAGES.detect])
def test_the_images_hold_no_credentials_and_no_test_data(images_ready, image):
    shown = json.loads(subprocess.run([IMAGES.engine, "image", "inspect", image],
                                      capture_output=True, text=True, timeout=60,
                                      check=True).stdout)[0]
    names = [entry.split("=", 1)[0] for entry in shown["Config"]["Env"]]
    assert not [n for n in names if n.startswith("AWS_") or "SECRET" in n or "TOKEN" in n]
    ours = ["/app", "/opt/venv/lib/python3.11/site-packages/marsaurora"]
    look = [IMAGES.engine, "run", "--rm", "--entrypoint", "find", image, *ours]
    shipped = subprocess.run([*look, "-name", "*.onnx", "-o", "-name", "func.py"],
                             capture_output=True, text=True, timeout=120, check=True).stdout
    assert "weights/aurora-yolo11n" in shipped and "/app/functions/" in shipped
    found = subprocess.run([*look, "-name", "*.fits*", "-o", "-name", "truth.jsonl", "-o",
                            "-name", "credentials", "-o", "-path", "*/tests/*", "-o",
                            "-name", "*.pt"],
                           capture_output=True, text=True, timeout=120, check=True).stdout
    assert found.strip() == ""
    assert shown["Config"]["User"] == "10001"


@pytest.mark.parametrize("images, said", [
    (FunctionImages(engine="/nonexistent/podman"), "is not installed"),
    (FunctionImages(stage="localhost/no-such-image:0"), "not found; build them"),
])
def test_a_stack_that_cannot_run_its_containers_says_what_to_do(images, said, tmp_path):
    if said != "is not installed" and shutil.which(IMAGES.engine) is None:
        pytest.skip(f"{IMAGES.engine} is not installed")
    with pytest.raises(StackError, match=said):
        LocalStack(tmp_path, SETTINGS, images=images).start()


def test_every_stage_is_labelled_so_a_rebuild_removes_what_it_replaces():
    """build-images.sh prunes untagged images by this label after building; a stage without
    it would leave a copy behind on every rebuild (hundreds once filled a CI disk)."""
    for name in ("Containerfile", "Containerfile.detect"):
        lines = (ROOT / "containers" / name).read_text().splitlines()
        stages = [number for number, line in enumerate(lines) if line.startswith("FROM ")]
        assert len(stages) == 2, name
        assert all(lines[number + 1].startswith("LABEL marsaurora.part=") for number in stages)
    assert "--filter label=marsaurora.part" in (ROOT / "scripts" / "build-images.sh").read_text()
