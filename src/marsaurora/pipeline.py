"""One observation through read -> preprocess -> classify -> detect -> catalog, as one record.

The steps are written here once, as functions from what the step needs to
what it makes, each filling the typed :class:`~marsaurora.record.ObservationRecord`;
:func:`needs_detector` decides, in one place, whether an observation goes on
after classify. The embedded runner (:func:`process_file`) and the event
chain's stage handlers are thin adapters over these steps. For a bad file
nothing raises: the failure becomes the record's ``error``.
"""

import hashlib
import logging
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from marsaurora.catalog import catalog_auroras
from marsaurora.classify import (DEFAULT_SCREEN, PaperFilterParams, PhysicalScreenParams,
                                 ScreenResult, classify)
from marsaurora.classify.excess import ExcessMap, excess_map
from marsaurora.classify.features import FeatureMap
from marsaurora.config import Settings
from marsaurora.detect import (AURORA_LABEL, DEFAULT_CONFIDENCE, DEFAULT_VIEWS, DISK_LABEL,
                               BoxFinder, Detection, DetectorOptions, load_detector)
from marsaurora.emus import Observation, read_l2b
from marsaurora.errors import ObservationError
from marsaurora.fits_open import ReadLimits
from marsaurora.fusion import FusionParams, fuse
from marsaurora.knobs import from_settings
from marsaurora.occurrence import night_coverage
from marsaurora.overlay import draw_detections
from marsaurora.preprocess import (DEFAULT_RANGE_R, Heatmap, HeatmapFrame, encode_png,
                                   render_excess_heatmap, render_heatmap)
from marsaurora.provenance import input_identity, model_digest, run_provenance, stamp
from marsaurora.record import ObservationRecord

MAX_STEM_CHARS = 120
"""Longest output file stem; file systems refuse names over 255 bytes."""
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PipelineOptions:
    """Everything one observation's processing depends on."""

    screen: str = DEFAULT_SCREEN
    physical: PhysicalScreenParams = field(default_factory=PhysicalScreenParams)
    paper: PaperFilterParams = field(default_factory=PaperFilterParams)
    fusion: FusionParams = field(default_factory=FusionParams)
    limits: ReadLimits = field(default_factory=ReadLimits)
    heatmap_range_r: tuple[float, float] = DEFAULT_RANGE_R
    detector: DetectorOptions | None = field(default_factory=lambda: DetectorOptions(
        confidence=lowest_confidence(DEFAULT_SCREEN, DEFAULT_CONFIDENCE, FusionParams()),
        views=detector_views(DEFAULT_SCREEN, DEFAULT_VIEWS)))
    """The detector run on screened candidates (the shipped model by default, down to
    :func:`lowest_confidence`, on :func:`detector_views`); None stops after classify."""
    box_confidence: float = DEFAULT_CONFIDENCE
    """Boxes at least this confident are the detector's own (``AURORA_DETECT_CONFIDENCE``);
    with the physical screen the detector runs down to ``fusion.support_confidence`` and
    fusion takes the boxes under this as weak ones."""
    excess_view: bool = True
    """Whether the network also looks at the screen's excess over a uniform night where a box
    can still decide (:func:`excess_view`; ``AURORA_DETECT_EXCESS_VIEW``)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> "PipelineOptions":
        """Options from the ``AURORA_*`` settings."""
        fusion = from_settings(FusionParams, settings)
        return cls(
            screen=settings.screen,
            physical=from_settings(PhysicalScreenParams, settings),
            paper=from_settings(PaperFilterParams, settings, "paper_"),
            fusion=fusion,
            limits=from_settings(ReadLimits, settings),
            heatmap_range_r=(settings.heatmap_min_r, settings.heatmap_max_r),
            detector=None if settings.detector == "off" else DetectorOptions(
                model_path=Path(settings.model_path) if settings.model_path else None,
                backend=settings.detector, device=settings.detect_device,
                confidence=lowest_confidence(settings.screen, settings.detect_confidence,
                                             fusion),
                iou=settings.detect_iou,
                threads=settings.detect_threads, precision=settings.detect_precision,
                views=detector_views(settings.screen, settings.detect_views)),
            box_confidence=settings.detect_confidence,
            excess_view=settings.detect_excess_view == "on",
        )


def lowest_confidence(screen: str, box_confidence: float, fusion: FusionParams) -> float:
    """The confidence the detector runs down to: with the physical screen, the weak boxes'
    (``fusion.support_confidence``), which fusion counts over significant excess; with the
    paper screen, where the detector decides alone, its own ``box_confidence``."""
    return box_confidence if screen == "paper" else min(box_confidence,
                                                        fusion.support_confidence)


def detector_views(screen: str, views: int) -> int:
    """How many mirror images of a heatmap the network looks at: ``views`` with the physical
    screen; once with the paper screen, as the paper's pipeline ran it."""
    return 1 if screen == "paper" else views


def process_file(path: Path, options: PipelineOptions, *,
                 png_dir: Path | None = None) -> ObservationRecord:
    """Process one file and return its record; never raises for a bad file.

    ``status`` is ``aurora`` when fusion keeps at least one aurora
    (:mod:`marsaurora.fusion`); without a detector, when the screen finds a candidate strong
    enough to be one without a box.
    With ``png_dir``, each heatmap is written there as PNG, and an overlay of
    its auroras when it has any.
    """
    record = ObservationRecord(path.name)
    record.provenance = stamp(run_provenance(options), input_identity(path))
    with recording_failures(record):
        observation, heatmap = read_and_render(path, options, record)
        if png_dir is not None:
            heatmap.write_png(png_dir / heatmap_png_name(path.name))
        result = screen_step(observation, heatmap, options, record)
        if needs_detector(result):
            found = None
            if options.detector is not None:
                view = excess_view(observation, heatmap, result.excess, record, options)
                found = detect_step(heatmap.rgb, load_detector(options.detector), record,
                                    options.fusion, options.box_confidence, excess_rgb=view)
            catalog_step(observation, heatmap, found, record, options, result.excess)
            if png_dir is not None and record.detections:
                overlay = draw_detections(heatmap.rgb, record.detections)
                (png_dir / overlay_png_name(path.name)).write_bytes(
                    encode_png(overlay))
    return record


def needs_detector(result: ScreenResult) -> bool:
    """Whether an observation goes on from classify to detect and catalog: the screen passed.

    The one place the order after classify is decided; the embedded runner and
    the classify stage (``candidate.found`` or ``candidate.none``) both ask it.
    """
    return result.passed


def read_and_render(path: Path, options: PipelineOptions, record: ObservationRecord,
                    data: bytes | None = None) -> tuple[Observation, Heatmap]:
    """The read and preprocess steps; fills the record's description and timings.

    ``data``: the file's bytes when already in memory; ``path`` then only names it.
    """
    record.stage = "read"
    with timed(record.timings_ms, "read"):
        observation = read_l2b(path, limits=options.limits, data=data)
    _describe(observation, record)
    record.stage = "preprocess"
    with timed(record.timings_ms, "preprocess"):
        low, high = options.heatmap_range_r
        heatmap = render_heatmap(observation, min_r=low, max_r=high)
    return observation, heatmap


def screen_step(observation: Observation, heatmap: HeatmapFrame, options: PipelineOptions,
                record: ObservationRecord) -> ScreenResult:
    """The classify step; sets the record's status, screen and candidates."""
    record.stage = "classify"
    with timed(record.timings_ms, "classify"):
        result = classify(observation, heatmap, screen=options.screen,
                          physical=options.physical, paper=options.paper)
    record.status = "aurora" if result.passed else "no_aurora"
    record.screen = result.screen
    record.screen_stats = {k: round(v, 4) for k, v in result.stats.items()}
    record.candidates = [c.to_record() for c in result.candidates]
    record.coverage = night_coverage(
        observation, night_sza_min_deg=options.physical.night_sza_min_deg,
        night_emission_max_deg=options.physical.night_emission_max_deg)
    return result


def excess_view(observation: Observation, frame: HeatmapFrame, excess: ExcessMap | None,
                record: ObservationRecord, options: PipelineOptions) -> np.ndarray | None:
    """The scan's excess over a uniform night as the network's second picture
    (:func:`~marsaurora.preprocess.render_excess_heatmap`) on the heatmap's ``frame``, RGB;
    None where it is not drawn: without a detector or an excess map (the paper screen measures
    none, and its detector decides alone), with ``options.excess_view`` off, and where no box
    can change what is found (:func:`box_can_decide`). A broad excess a fraction of its glow
    (:meth:`~marsaurora.fusion.FusionParams.broad_and_faint`) is drawn as the uniform night:
    the picture hides the glow that would tell it from an aurora, so only the heatmap's box can
    make it one. Part of the classify step, whose excess it shows: the event chain carries it
    to detect as a PNG."""
    if (options.detector is None or excess is None or not options.excess_view
            or not box_can_decide(record.candidates, options.fusion)):
        return None
    with timed(record.timings_ms, "classify"):
        faint = [feature.label for feature in excess.features if options.fusion.broad_and_faint(
            past_terminator=feature.past_terminator, area_px=feature.area_px,
            contrast=feature.contrast)]
        shown = np.where(np.isin(excess.labels, faint), 0.0, excess.excess_r)
        return render_excess_heatmap(observation, shown, excess.searched, frame).rgb


def detect_step(rgb: np.ndarray, detector: BoxFinder, record: ObservationRecord,
                fusion: FusionParams, confident: float = DEFAULT_CONFIDENCE, *,
                excess_rgb: np.ndarray | None = None) -> list[Detection]:
    """The detect step: every box the network finds on the heatmap's pixels, as recorded.

    The network looks at the heatmap every way the detector's options allow only where a
    box can still decide (:func:`box_can_decide`); elsewhere once. With ``excess_rgb``
    (:func:`excess_view`) it looks at that picture the same ways, in the same batch, and
    keeps its boxes of ``confident`` or more: a weak box there is as likely over a misfit of
    the background as over an aurora, since the picture shows both alike (docs/screens.md,
    "Why the detector also sees the excess"). Boxes come back at the precision records and
    events carry them (:meth:`Detection.as_recorded`), so the catalog step sees the same
    boxes in process and in the event chain.
    """
    record.stage = "detect"
    if record.provenance is not None:
        record.provenance["model_sha256"] = model_digest(detector.options)
    views = None if box_can_decide(record.candidates, fusion) else 1
    images = [rgb] if excess_rgb is None else [rgb, excess_rgb]
    with timed(record.timings_ms, "detect"):
        seen = detector.detect(images, views=views)
    boxes = seen[0] + [box for excess_boxes in seen[1:] for box in excess_boxes
                       if box.confidence >= confident]
    return [box.as_recorded() for box in boxes]


def box_can_decide(candidates: list[dict[str, Any]], fusion: FusionParams) -> bool:
    """Whether a screen candidate is one the screen alone would not call an aurora: only
    over such a feature does a box change what is found, and only there do more views of
    the heatmap pay (docs/screens.md, "Why the detector looks four ways"). The rule is
    fusion's own (:meth:`~marsaurora.fusion.FusionParams.screen_alone_decides`). Candidates
    without a significance (the paper screen's) count as undecided."""
    return any(not fusion.screen_alone_decides(
        candidate.get("significance") or 0.0, clean_night=bool(candidate.get("clean_night")),
        past_terminator=bool(candidate.get("past_terminator")),
        area_px=candidate.get("area_detector_px") or 0,
        contrast=candidate.get("contrast", math.inf)) for candidate in candidates)


def catalog_step(observation: Observation, heatmap: Heatmap, found: list[Detection] | None,
                 record: ObservationRecord, options: PipelineOptions,
                 excess: FeatureMap | None = None) -> None:
    """The catalog step: fuse boxes and excess into auroras, locate each on Mars, set the status.

    ``found`` is None when no detector ran; ``excess`` is the screen's excess
    map when it made one (it is measured here otherwise).
    """
    record.stage = "catalog"
    with timed(record.timings_ms, "catalog"):
        if excess is None:
            excess = excess_map(observation, options.physical.excess)
        boxes = None if found is None else [d for d in found if d.label == AURORA_LABEL]
        fusion = fuse(excess, heatmap, boxes, physical_evidence=options.screen != "paper",
                      candidate=options.physical.is_candidate, params=options.fusion,
                      confident=options.box_confidence)
        record.detections, record.flagged = catalog_auroras(observation, heatmap, excess,
                                                            fusion)
    if found is not None:
        record.disk_detected = any(d.label == DISK_LABEL for d in found)
    record.status = "aurora" if record.detections else "no_aurora"


@contextmanager
def recording_failures(record: ObservationRecord, *, bugs: bool = True) -> Iterator[None]:
    """Turn a failure inside the block into the record's ``error``.

    An :class:`ObservationError` is the file's fault and keeps its code. Any
    other exception is ours: with ``bugs`` (the embedded runner, where one
    file must not end the batch) it becomes an ``internal`` error logged with
    its traceback; without (a stage in the event chain) it propagates, so the
    stage answers 500 and the broker retries it, then dead-letters it.
    """
    try:
        yield
    except ObservationError as exc:
        record.fail(exc.code, exc.message)
        log.info("observation refused", extra={"observation": record.observation,
                                               "code": exc.code, "stage": record.stage})
    except Exception as exc:
        if not bugs:
            raise
        record.fail("internal", f"{type(exc).__name__}: {exc}")
        log.exception("unexpected failure", extra={"observation": record.observation,
                                                   "stage": record.stage})


def _describe(observation: Observation, record: ObservationRecord) -> None:
    record.shape = list(observation.shape)
    name = observation.filename
    if name is not None:
        record.orbit, record.mode, record.swath = name.orbit, name.mode, name.swath
        record.product_version = f"v{name.version:02d}-{name.revision:02d}"
        record.start_utc = name.start_utc.isoformat()
    if observation.warnings:
        record.warnings = list(observation.warnings)


def observation_stem(name: str) -> str:
    """The file name without its FITS and gzip suffixes, for derived files."""
    for suffix in (".gz", ".fits", ".fit", ".fts"):
        name = name.removesuffix(suffix)
    return name


def safe_file_stem(name: str) -> str:
    """:func:`observation_stem` made safe as a local file name, however the input was named.

    Characters that are not printable, not encodable (a byte the file system
    could not decode), or path separators become ``_``; a stem longer than
    :data:`MAX_STEM_CHARS` is cut. A changed stem ends in a short digest of
    the original name, so two inputs never share an output.
    """
    stem = observation_stem(name)
    safe = "".join(c if c.isprintable() and c not in '/\\:' and not 0xD800 <= ord(c) <= 0xDFFF
                   else "_" for c in stem)
    if safe == stem and len(stem) <= MAX_STEM_CHARS:
        return stem
    digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return f"{safe[:MAX_STEM_CHARS]}-{digest}"


def heatmap_png_name(observation: str) -> str:
    """The file name of an observation's heatmap in ``aurora run --png``'s ``heatmaps/``."""
    return f"{safe_file_stem(observation)}.png"


def overlay_png_name(observation: str) -> str:
    """The file name of the heatmap with the observation's auroras drawn on it."""
    return f"{safe_file_stem(observation)}-detections.png"


@contextmanager
def timed(timings: dict[str, float], step: str) -> Iterator[None]:
    """Add the block's wall time to ``timings[step]``, milliseconds, even if it raises: a
    step may run in more than one block (the classify step draws the excess view after the
    screen)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[step] = round(timings.get(step, 0.0)
                              + (time.perf_counter() - start) * 1000.0, 2)
