"""Every ``AURORA_*`` setting, read once from the environment.

Each field of :class:`Settings` is one environment variable: the field
``night_sza_min_deg`` is ``AURORA_NIGHT_SZA_MIN_DEG``. Defaults of science
parameters come from the science code's own defaults, so the two cannot
drift; the README table is checked against this class.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from marsaurora.classify import DEFAULT_SCREEN, SCREENS
from marsaurora.classify.paper import PaperFilterParams
from marsaurora.classify.physical import PhysicalScreenParams
from marsaurora.detect import BACKENDS, DEFAULT_CONFIDENCE, DEFAULT_IOU, DEVICES, PRECISIONS
from marsaurora.emus import ReadLimits
from marsaurora.fusion import FusionParams
from marsaurora.preprocess import DEFAULT_RANGE_R

ENV_PREFIX = "AURORA_"


_PHYSICAL = PhysicalScreenParams()
_PAPER = PaperFilterParams()
_FUSION = FusionParams()
_LIMITS = ReadLimits()


class ConfigError(ValueError):
    """An ``AURORA_*`` variable holds a value that cannot be used."""


def _setting(default: Any, help_text: str, *, choices: tuple[str, ...] = (),
             minimum: float | None = None) -> Any:
    return field(default=default,
                 metadata={"help": help_text, "choices": choices, "minimum": minimum})


@dataclass(frozen=True)
class Settings:
    """Runtime settings; build with :meth:`from_env`, never from globals."""

    screen: str = _setting(
        DEFAULT_SCREEN, "Classify screen: `physical` (Rayleighs on the file's geometry) "
        "or `paper` (the paper's OpenCV filter, for comparison).",
        choices=SCREENS)
    workers: int = _setting(0, "Worker processes for `aurora run`; 0 uses every core.",
                            minimum=0)
    night_sza_min_deg: float = _setting(
        _PHYSICAL.night_sza_min_deg,
        "Physical screen: look for auroras at solar zenith angles above this (the terminator "
        "band from 100 deg; the background is fitted from 6 deg lower).", minimum=90.0)
    night_emission_max_deg: float = _setting(
        _PHYSICAL.night_emission_max_deg,
        "Physical screen: look for auroras up to this emission angle (towards the limb).",
        minimum=0.0)
    min_excess_r: float = _setting(
        _PHYSICAL.min_excess_r,
        "Physical screen: a candidate's peak must stand this many rayleigh above "
        "the local night background.", minimum=0.0)
    min_significance: float = _setting(
        _PHYSICAL.min_significance,
        "Physical screen: a candidate's summed excess, without its brightest pixel, "
        "must be this many sigma.", minimum=0.0)
    min_area_px: int = _setting(
        _PHYSICAL.min_area_px,
        "Physical screen: a candidate must cover at least this many detector pixels.",
        minimum=1)
    support_significance: float = _setting(
        _FUSION.support_significance,
        "Decision: a detector box counts as an aurora only over an excess of at least this many "
        "sigma; weaker, it is kept as a flagged box.", minimum=0.0)
    screen_only_significance: float = _setting(
        _FUSION.screen_only_significance,
        "Decision: an excess of at least this many sigma is an aurora even where the detector "
        "drew no box.", minimum=0.0)
    paper_mask_radius_px: int = _setting(
        _PAPER.mask_radius_px,
        "Paper filter: radius of the circular disk mask in the 640x480 heatmap.",
        minimum=1)
    paper_min_object_area_px: int = _setting(
        _PAPER.min_object_area_px,
        "Paper filter: objects smaller than this many heatmap pixels are not "
        "counted (0 counts every object, as in the paper).", minimum=0)
    heatmap_min_r: float = _setting(
        DEFAULT_RANGE_R[0], "Heatmap: brightness mapped to the bottom of the log colour scale.",
        minimum=1e-6)
    heatmap_max_r: float = _setting(
        DEFAULT_RANGE_R[1], "Heatmap: brightness mapped to the top of the log colour scale.",
        minimum=1e-6)
    max_file_bytes: int = _setting(
        _LIMITS.max_file_bytes, "Refuse input files larger than this many bytes, on disk or once "
        "inflated from gzip (a gzip bomb stops here).", minimum=1)
    max_hdu_bytes: int = _setting(
        _LIMITS.max_hdu_bytes, "Refuse a FITS extension whose header claims more data than this "
        "many bytes, before reading it.", minimum=1)
    max_hdus: int = _setting(
        _LIMITS.max_hdus, "Stop looking for the needed FITS extensions after this many HDUs.",
        minimum=1)
    detector: str = _setting(
        "onnx", "Detector backend for screened candidates: `onnx` (ONNX Runtime), "
        "`ultralytics` (PyTorch, needs the `train` extra) or `off` (stop after classify).",
        choices=(*BACKENDS, "off"))
    model_path: str = _setting(
        "", "Detector weights; empty uses the shipped ones in `model/` (see "
        "`AURORA_DETECT_PRECISION`; `.pt` for the ultralytics backend).")
    detect_precision: str = _setting(
        "auto", "Shipped ONNX weights: `int8` (`aurora-yolo11n-int8.onnx`, faster on the "
        "CPU), `fp32` (`aurora-yolo11n.onnx`), or `auto`: int8 on the CPU, fp32 on CUDA.",
        choices=PRECISIONS)
    detect_device: str = _setting(
        "auto", "Where the detector runs: `auto` (the GPU when the backend has one), `cpu` "
        "or `cuda`.", choices=DEVICES)
    detect_confidence: float = _setting(
        DEFAULT_CONFIDENCE, "Detector: keep boxes at least this confident.", minimum=0.0)
    detect_iou: float = _setting(
        DEFAULT_IOU, "Detector: non-maximum suppression drops boxes overlapping a better one "
        "by more than this IoU.", minimum=0.0)
    detect_batch: int = _setting(
        8, "Detect function: most images run through the network in one batch.", minimum=1)
    detect_threads: int = _setting(
        0, "ONNX Runtime threads per process; 0 lets it choose (`aurora run` shares the "
        "cores among its workers).", minimum=0)
    log_level: str = _setting("INFO", "Log level of the JSON logs on stderr.",
                              choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    s3_endpoint: str = _setting(
        "", "S3-compatible endpoint URL of the bucket (MinIO, Ceph, moto); empty uses AWS S3. "
        "Credentials come from the usual `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`.")
    s3_region: str = _setting("us-east-1", "Region name sent to the S3 endpoint.")
    s3_bucket: str = _setting("aurora", "Bucket holding observations and every derived object.")
    seal_key: str = _setting(
        "", "Key the stages seal their events with, so no other broker client can forge a "
        "record; empty derives one from the bucket's secret key (every stage must agree).")
    s3_input_prefix: str = _setting(
        "observations/", "Key prefix where new L2B observations land; stages refuse keys "
        "outside it.")
    s3_output_prefix: str = _setting(
        "", "Key prefix above the derived folders (`heatmaps/`, `scans/`, `records/`, "
        "`dead-letter/`).")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
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
        raise ConfigError(f"{name}={raw!r} is not one of {', '.join(choices)}.")
    minimum = meta["minimum"]
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name}={raw!r} must be at least {minimum}.")
    return value
