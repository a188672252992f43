"""Settings: defaults, parsing, clear refusals, and docs that list them all."""

import re
from pathlib import Path

import pytest

from marsaurora.config import ConfigError, Settings, documented_settings

README = Path(__file__).resolve().parents[1] / "README.md"


def test_defaults_without_environment():
    settings = Settings.from_env({})
    assert settings == Settings()
    assert settings.screen == "physical" and settings.workers == 0


def test_values_are_parsed_and_normalised():
    settings = Settings.from_env({"AURORA_SCREEN": " Paper ", "AURORA_WORKERS": "3",
                                  "AURORA_MAX_HDU_BYTES": "0x1000", "AURORA_LOG_LEVEL": "debug",
                                  "UNRELATED": "x"})
    assert (settings.screen, settings.workers, settings.max_hdu_bytes, settings.log_level) == (
        "paper", 3, 4096, "DEBUG")


@pytest.mark.parametrize("env, words", [
    ({"AURORA_WORKERS": "two"}, "AURORA_WORKERS='two' is not a valid int"),
    ({"AURORA_SCREEN": "yolo"}, "not one of physical, paper"),
    ({"AURORA_WORKERS": "-1"}, "must be at least 0"),
    ({"AURORA_DETECT_VIEWS": "3"}, "AURORA_DETECT_VIEWS='3' is not one of 1, 2, 4"),
    ({"AURORA_HEATMAP_MIN_R": "500"}, "must be below AURORA_HEATMAP_MAX_R"),
])
def test_bad_values_are_refused_by_name(env, words):
    with pytest.raises(ConfigError, match=re.escape(words)):
        Settings.from_env(env)


def test_readme_lists_every_setting_with_its_default():
    text = README.read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `(AURORA_[A-Z0-9_]+)` \| `([^`]*)` \|", text, re.MULTILINE))
    expected = {name: default for name, default, _ in documented_settings()}
    assert rows == expected


def test_every_science_knob_is_a_setting_that_reaches_the_pipeline():
    from dataclasses import fields

    from marsaurora.config import SCIENCE_KNOBS, Settings
    from marsaurora.knobs import is_knob
    from marsaurora.pipeline import PipelineOptions

    changed = {}
    for params, prefix in SCIENCE_KNOBS:
        for spec in fields(params):
            if is_knob(spec):
                changed[f"AURORA_{(prefix + spec.name).upper()}"] = str(spec.default * 2 + 1)
    options = PipelineOptions.from_settings(Settings.from_env(changed))
    for params, _ in SCIENCE_KNOBS:
        built = next(getattr(options, name) for name in ("physical", "paper", "fusion", "limits")
                     if isinstance(getattr(options, name), params))
        for spec in fields(params):
            if is_knob(spec):
                assert getattr(built, spec.name) == type(spec.default)(spec.default * 2 + 1)
