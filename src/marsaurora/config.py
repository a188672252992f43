"""Every ``AURORA_*`` setting, read once from the environment.

Each field of :class:`Settings` is one environment variable: the field
``night_sza_min_deg`` is ``AURORA_NIGHT_SZA_MIN_DEG``. The science
parameters are not listed here: each is a knob of its parameter dataclass
(:mod:`marsaurora.knobs`), with its default and help text, and becomes a
setting by name; adding one touches only that dataclass. The README table is
checked against this class.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, make_dataclass
from typing import Any

from marsaurora.classify import DEFAULT_SCREEN, SCREENS
from marsaurora.classify.paper import PaperFilterParams
from marsaurora.classify.physical import PhysicalScreenParams
from marsaurora.detect import (BACKENDS, DEFAULT_CONFIDENCE, DEFAULT_IOU, DEFAULT_VIEWS, DEVICES,
                               PRECISIONS, VIEWS)
from marsaurora.fits_open import ReadLimits
from marsaurora.fusion import FusionParams
from marsaurora.knobs import knob, settings_fields
from marsaurora.preprocess import DEFAULT_RANGE_R

ENV_PREFIX = "AURORA_"


SCIENCE_KNOBS: tuple[tuple[type, str], ...] = (
    (PhysicalScreenParams, ""), (FusionParams, ""), (PaperFilterParams, "paper_"),
    (ReadLimits, ""))
"""Parameter dataclasses whose knobs are settings, and the prefix of their setting names."""


class ConfigError(ValueError):
    """An ``AURORA_*`` variable holds a value that cannot be used."""


@dataclass(frozen=True)
class _RuntimeSettings:
    """The settings that are not science parameters, and what every setting can do."""

    screen: str = knob(
        DEFAULT_SCREEN, "Classify screen: `physical` (Rayleighs on the file's geometry) "
        "or `paper` (the paper's OpenCV filter, for comparison).",
        choices=SCREENS)
    workers: int = knob(0, "Worker processes for `aurora run`; 0 uses every core.",
                            minimum=0)
    heatmap_min_r: float = knob(
        DEFAULT_RANGE_R[0], "Heatmap: brightness mapped to the bottom of the log colour scale.",
        minimum=1e-6)
    heatmap_max_r: float = knob(
        DEFAULT_RANGE_R[1], "Heatmap: brightness mapped to the top of the log colour scale.",
        minimum=1e-6)
    detector: str = knob(
        "onnx", "Detector backend for screened candidates: `onnx` (ONNX Runtime), "
        "`ultralytics` (PyTorch, needs the `train` extra) or `off` (stop after classify).",
        choices=(*BACKENDS, "off"))
    model_path: str = knob(
        "", "Detector weights; empty uses the shipped ones in `model/weights/` (see "
        "`AURORA_DETECT_PRECISION`; `.pt` for the ultralytics backend).")
    detect_precision: str = knob(
        "auto", "Shipped ONNX weights: `int8` (`aurora-yolo11n-int8.onnx`, faster on the "
        "CPU), `fp32` (`aurora-yolo11n.onnx`), or `auto`: int8 on the CPU, fp32 on CUDA.",
        choices=PRECISIONS)
    detect_device: str = knob(
        "auto", "Where the detector runs: `auto` (the GPU when the backend has one), `cpu` "
        "or `cuda`.", choices=DEVICES)
    detect_confidence: float = knob(
        DEFAULT_CONFIDENCE, "Detector: boxes at least this confident are its own: they decide "
        "alone under the paper screen, merge further features and are flagged with no excess "
        "under them; with the physical screen it also reports weaker ones, down to "
        "AURORA_SUPPORT_CONFIDENCE.", minimum=0.0)
    detect_iou: float = knob(
        DEFAULT_IOU, "Detector: non-maximum suppression drops boxes overlapping a better one "
        "by more than this IoU.", minimum=0.0)
    detect_views: int = knob(
        DEFAULT_VIEWS, "Detector: mirror images of each heatmap the network looks at where a "
        "box can still decide (a candidate under AURORA_SCREEN_ONLY_SIGNIFICANCE; elsewhere "
        "once), their boxes merged: 1 (as drawn), 2 (and left-right), 4 (and upside down, and "
        "both). With the physical screen only: the paper screen runs the network once.",
        choices=VIEWS)
    detect_excess_view: str = knob(
        "on", "Detector: where a box can still decide, the network also looks at the screen's "
        "excess drawn over a uniform night (as many ways as AURORA_DETECT_VIEWS), and keeps "
        "its boxes there of AURORA_DETECT_CONFIDENCE or more; `off` looks at the heatmap alone. "
        "With the physical screen only.", choices=("on", "off"))
    detect_batch: int = knob(
        8, "Detect function: most images run through the network in one batch.", minimum=1)
    detect_threads: int = knob(
        0, "ONNX Runtime threads per process; 0 lets it choose (`aurora run` shares the "
        "cores among its workers).", minimum=0)
    log_level: str = knob("INFO", "Log level of the JSON logs on stderr.",
                              choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    s3_endpoint: str = knob(
        "", "S3-compatible endpoint URL of the bucket (MinIO, Ceph, moto); empty uses AWS S3. "
        "Credentials come from the usual `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`.")
    s3_region: str = knob("us-east-1", "Region name sent to the S3 endpoint.")
    s3_bucket: str = knob("aurora", "Bucket holding observations and every derived object.")
    seal_key: str = knob(
        "", "Key the stages seal their events with, so no other broker client can forge a "
        "record; empty derives one from the bucket's secret key (every stage must agree).")
    s3_input_prefix: str = knob(
        "observations/", "Key prefix where new L2B observations land; stages refuse keys "
        "outside it.")
    s3_output_prefix: str = knob(
        "", "Key prefix above the derived folders (`heatmaps/`, `scans/`, `features/`, "
        "`excess-views/`, `overlays/`, `records/`, `dead-letter/`).")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Any:
        """Read every ``AURORA_*`` variable, falling back to the defaults.

        Raises
        ------
        ConfigError
            When a variable is set to a value of the wrong type or range; the
            message names the variable and what it accepts.
        """
        environ = os.environ if environ is None else environ
        values = {}
        for spec in fields(cls):
            name = env_name(spec.name)
            if name in environ:
                values[spec.name] = _parse(name, environ[name], spec.default, spec.metadata)
        settings = cls(**values)
        for name, prefix in (("AURORA_S3_INPUT_PREFIX", settings.s3_input_prefix),
                             ("AURORA_S3_OUTPUT_PREFIX", settings.s3_output_prefix)):
            if prefix and (not prefix.endswith("/") or prefix.startswith("/")
                           or ".." in prefix.split("/")):
                raise ConfigError(f"{name}={prefix!r} must be a relative key prefix ending "
                                  "in '/' (for example 'observations/'), or empty.")
        if settings.heatmap_min_r >= settings.heatmap_max_r:
            raise ConfigError(
                f"AURORA_HEATMAP_MIN_R ({settings.heatmap_min_r}) must be below "
                f"AURORA_HEATMAP_MAX_R ({settings.heatmap_max_r}).")
        return settings


    def to_env(self) -> dict[str, str]:
        """Every setting as its ``AURORA_*`` variable, to hand to a child process."""
        return {env_name(spec.name): str(getattr(self, spec.name)) for spec in fields(self)}


Settings = make_dataclass(
    "Settings", [spec for params, prefix in SCIENCE_KNOBS
                 for spec in settings_fields(params, prefix)],
    bases=(_RuntimeSettings,), frozen=True)
Settings.__doc__ = """Runtime settings; build with :meth:`from_env`, never from globals.

The science parameters among them are the knobs of the dataclasses in
:data:`SCIENCE_KNOBS`, declared (with default and help) where the science
defines them; the rest are declared above."""


def env_name(field_name: str) -> str:
    """The environment variable behind a :class:`Settings` field."""
    return ENV_PREFIX + field_name.upper()


def documented_settings() -> list[tuple[str, str, str]]:
    """``(variable, default, help)`` for every setting, in declaration order."""
    return [(env_name(spec.name), str(spec.default), spec.metadata["help"])
            for spec in fields(Settings)]


def _parse(name: str, raw: str, default: Any, meta: Mapping[str, Any]) -> Any:
    kind = type(default)
    text = raw.strip()
    try:
        value = kind(text) if kind is not int else int(text, 0)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a valid {kind.__name__}; "
                          f"unset it to use the default {default!r}.") from None
    if kind is str and meta["choices"]:
        value = text.upper() if name == "AURORA_LOG_LEVEL" else text.lower()
    choices = meta["choices"]
    if choices and value not in choices:
        raise ConfigError(f"{name}={raw!r} is not one of {', '.join(map(str, choices))}.")
    minimum = meta["minimum"]
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name}={raw!r} must be at least {minimum}.")
    return value
