"""The chain with its functions in the built images, run the way Knative runs them.

Needs podman and the images of ``scripts/build-images.sh``. Without them the
test is skipped, unless ``AURORA_REQUIRE_IMAGES=1`` (``scripts/container-check.sh``
sets it after building them), where their absence fails it.
"""

import json
import os
import shutil
import subprocess

import pytest

from marsaurora.config import Settings
from marsaurora.pipeline import PipelineOptions
from marsaurora.runner import RECORDS_FILE, discover_inputs, run_batch
from marsaurora.stack.batch import run_via_events
from marsaurora.stack.containers import CONTAINER_USER, FunctionImages
from marsaurora.stack.local import LocalStack
from marsaurora.synth.generate import SynthSpec, generate

from helpers import without_timings

IMAGES = FunctionImages()
SETTINGS = Settings()


def _missing() -> list[str]:
    if shutil.which(IMAGES.engine) is None:
        return [IMAGES.engine]
    return [image for image in (IMAGES.stage, IMAGES.detect)
            if subprocess.run([IMAGES.engine, "image", "exists", image],
                              capture_output=True, timeout=60).returncode != 0]


@pytest.fixture(scope="module")
def images_ready() -> None:
    missing = _missing()
    if missing:
        message = f"missing: {', '.join(missing)}; run scripts/build-images.sh --offline"
        if os.environ.get("AURORA_REQUIRE_IMAGES") == "1":
            pytest.fail(message)
        pytest.skip(message)


def _records(path) -> list[dict]:
    return [without_timings(json.loads(line)) for line in path.read_text().splitlines()]


def test_the_chain_runs_from_the_images_as_knative_would(images_ready, tmp_path):
    list(generate(SynthSpec(n=4, seed=21), tmp_path / "in"))
    (tmp_path / "in" / "emm_emu_l2b_20230101t000100_0001_os2_sw1of1_f_v01-04.fits").write_bytes(
        b"not a FITS file")
    paths = discover_inputs([tmp_path / "in"])
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
    assert via_images == _records(tmp_path / "embedded" / RECORDS_FILE)
    assert summary.by_status["error"] == 1 and sum(summary.by_status.values()) == 5
    gone = subprocess.run([IMAGES.engine, "ps", "--all", "--format", "{{.Names}}"],
                          capture_output=True, text=True, timeout=60, check=True).stdout
    assert not set(names) & set(gone.split()), "a function container outlived the stack"
