"""The dead-letter sink: keep every event the chain gave up on, and its reason.

Knative (and the local broker) send here the original event of a delivery
that failed for good, with three extension attributes: ``knativeerrorcode``
(the subscriber's HTTP status), ``knativeerrordest`` (its URL) and
``knativeerrordata`` (the start of its reply body, base64). For our stages'
400 replies that body is the ``observation.failed`` event data, so the
reason is readable.

Each dead letter is stored under ``dead-letter/``. The observation still
needs its one record: a stage that refused bad input wrote it already; when
no stage could answer at all, this sink writes an ``undeliverable`` record
(or, for a finished record the record stage could not store, that record).
"""

import base64
import binascii
import json
import logging
from typing import Any

from cloudevents.http import CloudEvent

from marsaurora.chain.context import Reply, StageContext
from marsaurora.chain.seal import is_sealed
from marsaurora.events import (CANDIDATE_FOUND, CANDIDATE_NONE, DETECTIONS_READY, HEATMAP_READY,
                               OBSERVATION_CATALOGED, OBSERVATION_STORED)
from marsaurora.layout import KeyRefused
from marsaurora.record import ObservationRecord, RecordInvalid

ERROR_EXTENSIONS = ("knativeerrorcode", "knativeerrordest", "knativeerrordata")
_STAGE_OF_TYPE = {OBSERVATION_STORED: "read", HEATMAP_READY: "classify",
                  CANDIDATE_FOUND: "detect", DETECTIONS_READY: "catalog"}
"""The stage that never answered, by the type of the event it was sent."""
_FINAL_TYPES = (CANDIDATE_NONE, OBSERVATION_CATALOGED)
"""Events carrying a complete record: only storing it failed."""
log = logging.getLogger(__name__)


def dead_letter(event: CloudEvent, context: StageContext) -> Reply:
    """Store one dead-lettered event, and a record if its observation has none."""
    attributes = {k: v for k, v in event.get_attributes().items() if k not in ERROR_EXTENSIONS}
    data = event.get_data()
    reason = decode_error_data(event.get("knativeerrordata"))
    delivery = {"code": event.get("knativeerrorcode"),
                "destination": event.get("knativeerrordest"), "reason": reason}
    input_key = _input_key(event.get("type"), data, context)
    letter = {"event": attributes, "data": _storable(data), "delivery": delivery}
    context.put_json(context.layout.dead_letter_key(input_key, str(event.get("id"))), letter)
    log.warning("dead letter stored", extra={"event_type": event.get("type"),
                                             "subject": event.get("subject"),
                                             "code": delivery["code"]})
    if input_key is not None:
        record_key = context.layout.record_key(input_key)
        if not context.storage.exists(record_key):
            trusted = data if is_sealed(event, context.seal_key) else {}
            context.put_json(record_key, _fallback_record(event, trusted, input_key, delivery))
    return Reply(204)


def _storable(data: Any) -> Any:
    """Event data as JSON can hold it: bytes (a non-JSON body) as base64, so no letter is lost."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return {"base64": base64.b64encode(bytes(data)).decode("ascii")}
    return data


def decode_error_data(encoded: Any) -> Any:
    """The subscriber's reply body from ``knativeerrordata``: JSON if it parses, else text."""
    if not isinstance(encoded, str) or not encoded:
        return None
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return encoded
    text = raw.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


def _input_key(event_type: Any, data: Any, context: StageContext) -> str | None:
    if not isinstance(data, dict):
        return None
    source = data if event_type == OBSERVATION_STORED else data.get("observation")
    key = source.get("key") if isinstance(source, dict) else None
    try:
        context.layout.relative_input(key)
    except KeyRefused:
        return None
    return key


def _fallback_record(event: CloudEvent, data: dict[str, Any], input_key: str,
                     delivery: dict[str, Any]) -> dict[str, Any]:
    name = input_key.rpartition("/")[2]
    try:
        so_far: ObservationRecord | None = ObservationRecord.from_json(data.get("record"))
    except RecordInvalid:
        so_far = None
    if so_far is not None and so_far.observation != name:
        so_far = None
    if so_far is not None and event.get("type") in _FINAL_TYPES:
        return so_far.to_json()
    record = so_far or ObservationRecord(name)
    record.stage = _STAGE_OF_TYPE.get(event.get("type"), "classify")
    reason = delivery["reason"]
    if isinstance(reason, dict):
        reason = reason.get("error", {}).get("message") or json.dumps(reason)
    return record.fail("undeliverable",
                       f"{delivery['destination'] or 'a stage'} answered "
                       f"{delivery['code'] or 'nothing'} on every attempt"
                       + (f": {reason}" if reason else "")).to_json()
