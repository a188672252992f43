"""Shared fixtures: synthetic observations made once per test session."""

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from marsaurora.detect import DetectorOptions, shipped_model
from marsaurora.emus import read_l2b
from marsaurora.preprocess import render_heatmap
from marsaurora.synth.generate import SynthSpec, generate
from marsaurora.synth.scene import Scene, make_scene

from helpers import free_port, scenario_folder, serving, write_scene


@pytest.fixture(scope="session")
def aurora_scene() -> Scene:
    """One bright-aurora scene (fixed seed) with a 128-pixel slit."""
    rng = np.random.default_rng(20240101)
    while True:
        scene = make_scene(rng, "aurora")
        if scene.view.npix == 128 and max(a.peak_r for a in scene.auroras) >= 5:
            return scene


@pytest.fixture(scope="session")
def aurora_file(aurora_scene: Scene, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``aurora_scene`` written in the usual layout."""
    return write_scene(aurora_scene, tmp_path_factory.mktemp("aurora_file"))


@pytest.fixture(scope="session")
def scenario_sets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small uncompressed sets of each scenario, for the screens."""
    root = tmp_path_factory.mktemp("scenarios")
    sizes = {"aurora": 12, "quiet_night": 12, "dayside": 8, "crescent": 8}
    return {scenario: scenario_folder(root, scenario, n, seed=900 + i)
            for i, (scenario, n) in enumerate(sizes.items())}


@pytest.fixture(scope="session")
def mixed_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Twelve compressed files of the default scenario mix."""
    folder = tmp_path_factory.mktemp("mixed")
    list(generate(SynthSpec(n=12, seed=3), folder))
    return folder


@pytest.fixture(scope="session")
def onnx_options() -> DetectorOptions:
    """The shipped ONNX weights on the CPU, one thread (as each CI worker runs them)."""
    return DetectorOptions(model_path=shipped_model("onnx"), device="cpu", threads=1)


@pytest.fixture(scope="session")
def heatmaps(tmp_path_factory: pytest.TempPathFactory) -> list[np.ndarray]:
    """Six heatmaps of fixed observations: four with auroras, a quiet night, a dayside."""
    folder = tmp_path_factory.mktemp("detector-fixtures")
    spec = SynthSpec(n=6, seed=31337, scenarios=("aurora",), compress=False)
    paths = [folder / record["file"] for record in generate(spec, folder)]
    extra = folder / "others"
    spec = SynthSpec(n=2, seed=4242, scenarios=("quiet_night", "dayside"), compress=False)
    paths += [extra / record["file"] for record in generate(spec, extra)]
    return [render_heatmap(read_l2b(path)).rgb for path in paths[:4] + paths[-2:]]


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real S3 server (moto's S3, as the local stack serves it) on loopback; yields its URL."""
    port = free_port()
    spill = tmp_path_factory.mktemp("s3-spill")
    env = {**os.environ, "TMPDIR": str(spill), "MOTO_S3_DEFAULT_KEY_BUFFER_SIZE": "262144"}
    with serving([sys.executable, "-m", "marsaurora.stack.s3server", "--port", str(port)],
                 port, "/", env) as endpoint:
        yield endpoint
