"""The shipped detector, end to end, on observations it never saw (a seed no split used)."""

import pytest

from marsaurora.evaluate import evaluate
from marsaurora.pipeline import PipelineOptions
from marsaurora.runner import discover_inputs, run_batch
from marsaurora.synth.generate import TRUTH_FILE, SynthSpec, generate

UNSEEN_SEED = 5151
"""Not 1000-1002 (the training, validation and test splits of model/dataset.py)."""


@pytest.fixture(scope="module")
def unseen(tmp_path_factory):
    folder = tmp_path_factory.mktemp("unseen")
    list(generate(SynthSpec(n=40, seed=UNSEEN_SEED), folder))
    out = folder / "run"
    run_batch(discover_inputs([folder]), out, PipelineOptions(), workers=2, progress=False)
    return evaluate(folder / TRUTH_FILE, out / "observations.jsonl")


def test_pipeline_finds_the_auroras_and_only_them(unseen):
    assert unseen.true_positive + unseen.false_negative >= 10
    assert unseen.errors == 0
    assert unseen.recall >= 0.9 and unseen.precision >= 0.9


def test_detected_auroras_are_where_they_were_injected(unseen):
    assert unseen.auroras_matched >= 0.8 * unseen.auroras_injected
    assert unseen.position_error_median_deg < 3.0
