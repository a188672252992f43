"""preprocess, classify, detect, catalog and record: the pipeline's steps, one event at a time.

Each handler only adapts: event -> fetch objects -> the same pipeline step
the embedded runner calls -> store results -> the next event. Records are
built by :mod:`marsaurora.pipeline` in every mode, so ``aurora run`` and
``aurora run --via-events`` write the same records.
"""

import json
import logging
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from cloudevents.http import CloudEvent

from marsaurora.chain.context import Reply, StageContext
from marsaurora.chain.feature_artifact import FeatureArtifactError, dump_features, load_features
from marsaurora.classify import PIXEL_SCREENS
from marsaurora.classify.features import FeatureMap
from marsaurora.detect import Detection
from marsaurora.emus import Observation
from marsaurora.errors import ObservationError
from marsaurora.events import (CANDIDATE_FOUND, CANDIDATE_NONE, DETECTIONS_READY, HEATMAP_READY,
                               OBSERVATION_CATALOGED, OBSERVATION_FAILED, BadEvent, event_data,
                               hop, new_event)
from marsaurora.fits_open import file_too_large
from marsaurora.layout import content_digest
from marsaurora.overlay import draw_detections
from marsaurora.pipeline import (catalog_step, detect_step, excess_view, needs_detector,
                                 read_and_render, recording_failures, screen_step)
from marsaurora.preprocess import Heatmap, HeatmapFrame, decode_png, encode_png
from marsaurora.provenance import run_provenance, stamp
from marsaurora.record import ObservationRecord, RecordError, RecordInvalid
from marsaurora.scan_artifact import ScanArtifactError, dump_scan, load_scan
from marsaurora.storage import ObjectMissing, ObjectRef, ObjectTooLarge

MAX_FAILURE_BODY_BYTES = 700
"""A 400 reply's body reaches the dead-letter sink as ``knativeerrordata``: base64, which Knative
cuts at 1024 characters (768 bytes of body), and an over-long one has been reported to crash its
in-memory channel dispatcher. Every failure body stays under this many bytes, as JSON sends it
(non-ASCII escaped), by shortening its message."""
MIN_FAILURE_MESSAGE_CHARS = 120
"""A failure message is not cut below this to keep object references in the body."""
MAX_DETECTIONS = 300
"""The detector keeps at most this many boxes per image (as ultralytics does)."""
CLASSIFY_OUTPUTS = ("features", "excess_view")
"""What classify adds to its event; an incoming event's own are dropped, never passed on."""
_DIGEST = re.compile(r"^[0-9a-f]{64}$")
log = logging.getLogger(__name__)


def preprocess_stage(event: CloudEvent, context: StageContext) -> Reply:
    """``observation.stored`` -> read and draw -> ``heatmap.ready``."""
    stage = "preprocess"
    data = event_data(event, hop(stage).consumes)
    stored = _input_ref(data, "data", context)
    name = stored.key.rpartition("/")[2]
    record = ObservationRecord(name)
    limit = context.options.limits.max_file_bytes
    try:
        body, stored = context.storage.get(stored.key, max_bytes=limit)
    except ObjectMissing as exc:
        return _refuse(stage, stored, record, ObservationError("not_found", str(exc)), context)
    except ObjectTooLarge as exc:
        error = file_too_large(name, exc.size, limit)
        return _refuse(stage, stored, record, error, context)
    digest = content_digest(body)
    record.provenance = stamp(run_provenance(context.options), (digest, len(body)))
    with recording_failures(record, bugs=False):
        observation, heatmap = read_and_render(Path(name), context.options, record, data=body)
    del body
    if record.error is not None:
        return _refuse(stage, stored, record, None, context)
    layout, storage = context.layout, context.storage
    heatmap_ref = storage.put(layout.heatmap_key(stored.key, digest), heatmap.png_bytes(),
                              "image/png")
    scan_ref = storage.put(layout.scan_key(stored.key, digest), dump_scan(observation, heatmap),
                           "application/octet-stream")
    return Reply(200, new_event(HEATMAP_READY, stage, name, {
        "observation": stored.to_json(), "digest": digest, "heatmap": heatmap_ref.to_json(),
        "scan": scan_ref.to_json(), "record": record.to_json()}))


def classify_stage(event: CloudEvent, context: StageContext) -> Reply:
    """``heatmap.ready`` -> screen -> ``candidate.found`` or ``candidate.none``.

    The physical screen needs only the scan artifact; the PNG is fetched only
    for a screen that looks at pixels.
    """
    stage = "classify"
    data = event_data(event, hop(stage).consumes)
    observation_ref = _input_ref(data.get("observation"), "observation", context)
    record = _partial_record(data, observation_ref)
    heatmap: HeatmapFrame
    if context.options.screen in PIXEL_SCREENS:
        stored = _derived_objects(data, observation_ref, context, ("heatmap", "scan"))
        observation, heatmap = _load_heatmap(stored, data, observation_ref, context)
    else:
        stored = _derived_objects(data, observation_ref, context, ("scan",))
        observation, heatmap = _load_scan(stored, data, observation_ref, context)
    with recording_failures(record, bugs=False):
        result = screen_step(observation, heatmap, context.options, record)
    if record.error is not None:
        return _refuse(stage, observation_ref, record, None, context)
    passed = needs_detector(result)
    carried: dict[str, Any] = {}
    if passed and result.excess is not None:
        carried["features"] = context.storage.put(
            context.layout.features_key(observation_ref.key, data["digest"]),
            dump_features(result.excess), "application/octet-stream").to_json()
        view = excess_view(observation, heatmap, result.excess, record, context.options)
        if view is not None:
            carried["excess_view"] = context.storage.put(
                context.layout.excess_view_key(observation_ref.key, data["digest"]),
                encode_png(view), "image/png").to_json()
    return Reply(200, new_event(CANDIDATE_FOUND if passed else CANDIDATE_NONE, stage,
                                record.observation,
                                {**{k: v for k, v in data.items() if k not in CLASSIFY_OUTPUTS},
                                 **carried, "record": record.to_json()}))


def detect_stage(event: CloudEvent, context: StageContext) -> Reply:
    """``candidate.found`` -> the network's boxes on the heatmap -> ``detections.ready``.

    With ``AURORA_DETECTOR=off`` the boxes are ``null`` and catalog keeps the
    screen's verdict, as ``aurora run`` does without a detector.
    """
    stage = "detect"
    data = event_data(event, hop(stage).consumes)
    observation_ref = _input_ref(data.get("observation"), "observation", context)
    record = _partial_record(data, observation_ref)
    if context.detector is None:
        return Reply(200, new_event(DETECTIONS_READY, stage, record.observation, {
            **data, "record": record.to_json(), "detections": None}))
    pictures = ("heatmap", "excess_view") if data.get("excess_view") is not None else ("heatmap",)
    stored = _derived_objects(data, observation_ref, context, pictures)
    rgb, *excess_rgb = (_decoded(stored[name], data[name]) for name in pictures)
    found = detect_step(rgb, context.detector, record, context.options.fusion,
                        context.options.box_confidence,
                        excess_rgb=excess_rgb[0] if excess_rgb else None)
    return Reply(200, new_event(DETECTIONS_READY, stage, record.observation, {
        **data, "record": record.to_json(), "detections": [d.to_record() for d in found]}))


def catalog_stage(event: CloudEvent, context: StageContext) -> Reply:
    """``detections.ready`` -> auroras located on Mars, an overlay -> ``observation.cataloged``."""
    stage = "catalog"
    data = event_data(event, hop(stage).consumes)
    observation_ref = _input_ref(data.get("observation"), "observation", context)
    record = _partial_record(data, observation_ref)
    found = _detections(data.get("detections"))
    carried = ("features",) if data.get("features") is not None else ()
    stored = _derived_objects(data, observation_ref, context, ("heatmap", "scan", *carried))
    observation, heatmap = _load_heatmap(stored, data, observation_ref, context)
    features = _load_features(stored, data, observation_ref, observation, context)
    with recording_failures(record, bugs=False):
        catalog_step(observation, heatmap, found, record, context.options, features)
    if record.error is not None:
        return _refuse(stage, observation_ref, record, None, context)
    overlay = None
    if record.detections:
        overlay = context.storage.put(
            context.layout.overlay_key(observation_ref.key, data["digest"]),
            encode_png(draw_detections(heatmap.rgb, record.detections)), "image/png").to_json()
    return Reply(200, new_event(OBSERVATION_CATALOGED, stage, record.observation, {
        "observation": observation_ref.to_json(), "digest": data["digest"], "overlay": overlay,
        "record": record.to_json()}))


def record_stage(event: CloudEvent, context: StageContext) -> Reply:
    """``observation.cataloged`` or ``candidate.none`` -> the record in ``records/``; the end.

    The record is stored only while the input still holds the content the
    chain processed (same ETag): after a quick re-upload, the older
    version's record, finishing late, must not replace the newer one's.
    """
    data = event_data(event, hop("record").consumes)
    observation_ref = _input_ref(data.get("observation"), "observation", context)
    record = _partial_record(data, observation_ref)
    if observation_ref.etag:
        try:
            current = context.storage.etag(observation_ref.key)
        except ObjectMissing:
            current = observation_ref.etag
        if current != observation_ref.etag:
            log.info("stale record not stored", extra={
                "observation": record.observation, "processed_etag": observation_ref.etag,
                "current_etag": current})
            return Reply(204)
    context.put_json(context.layout.record_key(observation_ref.key), record.to_json())
    return Reply(204)


def refuse_event(stage: str, event: CloudEvent, reason: str) -> Reply:
    """Answer 400 to an event that cannot be acted on; no record can be written."""
    subject = event.get("subject") or ""
    data = _fitting({"observation": None, "stage": stage, "error": None, "record": None},
                    "bad_event", reason)
    return Reply(400, new_event(OBSERVATION_FAILED, stage, subject, data), message=reason)


def _refuse(stage: str, observation_ref: ObjectRef, record: ObservationRecord,
            error: ObservationError | None, context: StageContext) -> Reply:
    """Store the error record and answer 400 with the failure event."""
    if error is not None:
        record.fail(error.code, error.message)
    reason = record.error or RecordError("internal", f"{stage} refused without a reason")
    record_ref = ObjectRef(context.storage.bucket,
                           context.layout.record_key(observation_ref.key))
    context.put_json(record_ref.key, record.to_json())
    data = _fitting({"observation": observation_ref.to_json(), "stage": record.stage,
                     "error": None, "record": record_ref.to_json()}, reason.code, reason.message)
    return Reply(400, new_event(OBSERVATION_FAILED, stage, record.observation, data),
                 message=data["error"]["message"])


def _fitting(data: dict[str, Any], code: str, message: str) -> dict[str, Any]:
    """``data`` with ``error`` set to ``code`` and as much of ``message`` as keeps the whole,
    as JSON, within :data:`MAX_FAILURE_BODY_BYTES` (shortened with an ellipsis).

    When even a short message does not fit (very long object keys), the object
    references go: the dead-letter sink has them in the original event.
    """
    for candidate in (data, {**data, "observation": None, "record": None}):
        text = message
        while True:
            fitted = {**candidate, "error": asdict(RecordError(code, text))}
            if len(json.dumps(fitted).encode("utf-8")) <= MAX_FAILURE_BODY_BYTES:
                return fitted
            if len(text) <= MIN_FAILURE_MESSAGE_CHARS and candidate is data:
                break
            cut = max(len(text) - max(8, len(text) // 8), 0)
            text = text[:cut].rstrip() + "..." if cut else ""
            if not text:
                return {**candidate, "error": asdict(RecordError(code, ""))}
    return fitted


def _decoded(png: bytes, ref: Any) -> np.ndarray:
    """A stored picture's RGB pixels; BadEvent naming it when they cannot be read."""
    try:
        return decode_png(png)
    except ValueError as exc:
        raise BadEvent(f"{ref.get('key')!r}: {exc}; preprocess it again") from None


def _derived_objects(data: dict[str, Any], observation_ref: ObjectRef, context: StageContext,
                     fields: tuple[str, ...]) -> dict[str, bytes]:
    """Fetch the objects preprocess derived, refusing references to any other key."""
    digest = data.get("digest")
    if not isinstance(digest, str) or not _DIGEST.match(digest):
        raise BadEvent("event data needs the input's hex SHA-256 as 'digest'")
    layout = context.layout
    expected = {"heatmap": layout.heatmap_key(observation_ref.key, digest),
                "scan": layout.scan_key(observation_ref.key, digest),
                "features": layout.features_key(observation_ref.key, digest),
                "excess_view": layout.excess_view_key(observation_ref.key, digest)}
    stored: dict[str, bytes] = {}
    for field in fields:
        ref = _ref(data.get(field), field, context)
        if ref.key != expected[field]:
            raise BadEvent(f"{field} key {ref.key!r} is not the one derived from the input, "
                           f"{expected[field]!r}")
        try:
            stored[field], _ = context.storage.get(ref.key)
        except ObjectMissing as exc:
            raise BadEvent(f"{exc}; preprocess the observation again") from None
    return stored


def _load_scan(stored: dict[str, bytes], data: dict[str, Any], observation_ref: ObjectRef,
               context: StageContext) -> tuple[Observation, HeatmapFrame]:
    try:
        return load_scan(stored["scan"])
    except (ScanArtifactError, ValueError) as exc:
        key = context.layout.scan_key(observation_ref.key, data["digest"])
        raise BadEvent(f"{key}: {exc}") from None


def _load_heatmap(stored: dict[str, bytes], data: dict[str, Any], observation_ref: ObjectRef,
                  context: StageContext) -> tuple[Observation, Heatmap]:
    observation, frame = _load_scan(stored, data, observation_ref, context)
    try:
        return observation, Heatmap.restore(stored["heatmap"], observation.shape, frame)
    except ValueError as exc:
        key = context.layout.heatmap_key(observation_ref.key, data["digest"])
        raise BadEvent(f"{key}: {exc}") from None


def _load_features(stored: dict[str, bytes], data: dict[str, Any], observation_ref: ObjectRef,
                   observation: Observation, context: StageContext) -> FeatureMap | None:
    """The screen's features carried from classify; None where classify left none (the paper
    screen measures no excess), and the catalog step measures them itself."""
    if "features" not in stored:
        return None
    try:
        return load_features(stored["features"], observation.shape)
    except FeatureArtifactError as exc:
        key = context.layout.features_key(observation_ref.key, data["digest"])
        raise BadEvent(f"{key}: {exc}") from None


def _detections(data: Any) -> list[Detection] | None:
    """The detector's boxes from ``detections.ready`` data, checked; None when it did not run."""
    if data is None:
        return None
    if not isinstance(data, list) or len(data) > MAX_DETECTIONS:
        raise BadEvent(f"'detections' must be a list of at most {MAX_DETECTIONS} boxes")
    found = []
    for item in data:
        try:
            box = tuple(float(v) for v in item["box_px"])
            found.append(Detection(label=str(item["label"]),
                                   confidence=float(item["confidence"]), box_px=box))
        except (KeyError, TypeError, ValueError):
            raise BadEvent("each detection needs label, confidence and box_px "
                           "[x0, y0, x1, y1]") from None
        if len(box) != 4 or not all(np.isfinite(box)) or box[0] > box[2] or box[1] > box[3]:
            raise BadEvent(f"detection box {list(box)} is not [x0, y0, x1, y1] with x0 <= x1 "
                           "and y0 <= y1")
    return found


def _ref(data: Any, what: str, context: StageContext) -> ObjectRef:
    try:
        ref = ObjectRef.from_json(data, what)
    except ValueError as exc:
        raise BadEvent(str(exc)) from None
    if ref.bucket != context.storage.bucket:
        raise BadEvent(f"{what} is in bucket {ref.bucket!r}; this deployment serves "
                       f"{context.storage.bucket!r} (AURORA_S3_BUCKET)")
    return ref


def _input_ref(data: Any, what: str, context: StageContext) -> ObjectRef:
    ref = _ref(data, what, context)
    context.layout.relative_input(ref.key)
    return ref


def _partial_record(data: dict[str, Any], observation_ref: ObjectRef) -> ObservationRecord:
    """The record so far that an event carries, parsed and checked against its observation."""
    name = observation_ref.key.rpartition("/")[2]
    try:
        record = ObservationRecord.from_json(data.get("record"))
    except RecordInvalid as exc:
        raise BadEvent(f"event data needs the record of {name!r} so far as 'record': "
                       f"{exc}") from None
    if record.observation != name:
        raise BadEvent(f"event data needs the record of {name!r} so far as 'record', "
                       f"not that of {record.observation!r}")
    return record
