"""Fixtures of the detector tests: the shipped model's options and fixed heatmaps."""

import numpy as np
import pytest

from marsaurora.detect import DetectorOptions, shipped_model
from marsaurora.emus import read_l2b
from marsaurora.preprocess import render_heatmap
from marsaurora.synth.generate import SynthSpec, generate


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
