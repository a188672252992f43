"""The event contract: every CloudEvent type, who emits it, who consumes it.

This module is the one definition of the chain. The Knative ``Trigger``
manifests in ``eventing/`` must filter on exactly these types (a test reads
both), the local broker reads those manifests, and the table in
``eventing/README.md`` is checked against :data:`EVENT_TYPES`.

Events carry object references (bucket, key, etag) and small JSON records,
never image bytes: the bucket holds the data, the event says where (claim
check). Every event of one observation has the observation's file name as
its ``subject``, so one ``subject`` filter traces a file through the chain.
"""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent, from_http

from marsaurora import jsonsafe

SPEC_PREFIX = "marsaurora."
ID_NAMESPACE = uuid.UUID("6f1d2a3e-4b5c-5d6e-8f70-81a2b3c4d5e6")
"""Namespace of the derived event ids (:func:`new_event`)."""
OBSERVATION_STORED = "marsaurora.observation.stored"
HEATMAP_READY = "marsaurora.heatmap.ready"
CANDIDATE_FOUND = "marsaurora.candidate.found"
CANDIDATE_NONE = "marsaurora.candidate.none"
DETECTIONS_READY = "marsaurora.detections.ready"
OBSERVATION_CATALOGED = "marsaurora.observation.cataloged"
OBSERVATION_FAILED = "marsaurora.observation.failed"
DATA_CONTENT_TYPE = "application/json"
BROKER_NAME = "aurora"
SERVICE_PREFIX = "aurora-"


@dataclass(frozen=True)
class EventType:
    """One row of the contract: a type, its emitters and what its data holds."""

    type: str
    emitted_by: tuple[str, ...]
    data: str
    description: str


EVENT_TYPES: tuple[EventType, ...] = (
    EventType(OBSERVATION_STORED, ("ingest", "watcher"),
              "`{bucket, key, etag, size}` of the L2B file",
              "A new observation is in the bucket under the input prefix."),
    EventType(HEATMAP_READY, ("preprocess",),
              "`{observation, digest, heatmap, scan, record}`: object refs, the input's "
              "SHA-256, the partial record",
              "The observation was read and drawn; the heatmap PNG and scan artifact are stored."),
    EventType(CANDIDATE_FOUND, ("classify",),
              "as `heatmap.ready`, the record now with `status: aurora` and its candidates, "
              "`features` (the physical screen's excess features, for catalog) and, where a box "
              "can still decide, `excess_view` (the excess over a uniform night, PNG, for "
              "detect)",
              "The screen found at least one aurora candidate; the detector looks next."),
    EventType(CANDIDATE_NONE, ("classify",),
              "as `heatmap.ready`, the record now with `status: no_aurora`",
              "The screen found nothing; the observation's chain ends here."),
    EventType(DETECTIONS_READY, ("detect",),
              "as `candidate.found`, plus `detections`: every box `{label, confidence, box_px}`",
              "The detector ran on the heatmap (boxes in heatmap pixels, possibly none)."),
    EventType(OBSERVATION_CATALOGED, ("catalog",),
              "`{observation, digest, overlay, record}`: the record with located `detections` "
              "and the detector's `status`; `overlay` is null when nothing was found",
              "Each aurora box was mapped onto Mars; the record is final."),
    EventType(OBSERVATION_FAILED, ("preprocess", "classify", "detect", "catalog", "record",
                                   "deadletter"),
              "`{observation, stage, error: {code, message}, record}`",
              "Bad input: the body of a stage's HTTP 400 reply, which Knative passes to the "
              "dead-letter sink (`knativeerrordata`); never routed by a trigger."),
)


@dataclass(frozen=True)
class Hop:
    """One stage of the chain: the types its Trigger accepts and the ones it replies with."""

    stage: str
    consumes: tuple[str, ...]
    emits: tuple[str, ...]

    @property
    def service(self) -> str:
        """The Knative Service (and local process) name of this stage."""
        return SERVICE_PREFIX + self.stage

    @property
    def source(self) -> str:
        """The CloudEvents ``source`` of events this stage emits."""
        return source_of(self.stage)


HOPS: tuple[Hop, ...] = (
    Hop("preprocess", consumes=(OBSERVATION_STORED,), emits=(HEATMAP_READY,)),
    Hop("classify", consumes=(HEATMAP_READY,), emits=(CANDIDATE_FOUND, CANDIDATE_NONE)),
    Hop("detect", consumes=(CANDIDATE_FOUND,), emits=(DETECTIONS_READY,)),
    Hop("catalog", consumes=(DETECTIONS_READY,), emits=(OBSERVATION_CATALOGED,)),
    Hop("record", consumes=(OBSERVATION_CATALOGED, CANDIDATE_NONE), emits=()),
)
DEAD_LETTER_STAGE = "deadletter"
DEAD_LETTER_SERVICE = SERVICE_PREFIX + DEAD_LETTER_STAGE
FUNCTIONS = tuple(hop.stage for hop in HOPS) + (DEAD_LETTER_STAGE,)
"""Every event function, one Knative Service (``aurora-<name>``) each; the chart's list is
checked against it."""
FUNCTION_HEADER = "Aurora-Function"
"""HTTP header on every answer of a function, naming it: the local stack checks that each
function's port is answered by that function before it routes events there."""


class BadEvent(ValueError):
    """An event a stage cannot act on: wrong type, missing attributes or data."""


def source_of(emitter: str) -> str:
    """``/marsaurora/<emitter>``: the ``source`` attribute of an emitter's events."""
    return f"/marsaurora/{emitter}"


def hop(stage: str) -> Hop:
    """The hop of a stage by name."""
    for candidate in HOPS:
        if candidate.stage == stage:
            return candidate
    raise KeyError(f"no stage {stage!r}; stages are {', '.join(h.stage for h in HOPS)}")


def new_event(event_type: str, emitter: str, subject: str, data: dict[str, Any], *,
              identity: str | None = None) -> CloudEvent:
    """A CloudEvent of the contract with every attribute set explicitly.

    With an ``identity`` (the object key and ETag an upload announces, say)
    its id is derived from it, so the same content announced twice has the
    same id and a consumer can recognise the duplicate; without, it is
    random. A stage's reply gets its id from the event it answers
    (:func:`caused_by`).
    """
    if event_type not in {row.type for row in EVENT_TYPES}:
        raise ValueError(f"{event_type!r} is not in the event contract (marsaurora.events)")
    event_id = (str(uuid.uuid5(ID_NAMESPACE, f"{identity}|{event_type}")) if identity is not None
                else str(uuid.uuid4()))
    return CloudEvent({"type": event_type, "source": source_of(emitter), "subject": subject,
                       "id": event_id, "datacontenttype": DATA_CONTENT_TYPE},
                      jsonsafe.finite(data))


def caused_by(event: CloudEvent, cause: CloudEvent) -> CloudEvent:
    """``event`` with an id derived from the event that caused it (its source, id and type):
    a redelivered event yields replies with the very same ids."""
    identity = "|".join(str(cause.get(name)) for name in ("source", "id", "type"))
    attributes = {**event.get_attributes(),
                  "id": str(uuid.uuid5(ID_NAMESPACE, f"{identity}|{event.get('type')}"))}
    return CloudEvent(attributes, event.get_data())


def binary(event: CloudEvent) -> tuple[dict[str, str], bytes]:
    """Headers and body of ``event`` in binary mode, header values percent-encoded.

    The CloudEvents HTTP binding (binary mode, section 3.1.3.2) percent-encodes
    space, ``"``, ``%`` and every byte outside printable ASCII in ``ce-``
    header values: a subject with a non-ASCII letter otherwise cannot be sent
    at all (``requests`` refuses it).
    """
    headers, body = to_binary(event)
    return {name: _percent_encoded(value) if name.lower().startswith("ce-") else value
            for name, value in dict(headers).items()}, body


def from_binary(headers: Mapping[str, str], body: bytes) -> CloudEvent:
    """The event a request carries (either mode), its binary-mode values percent-decoded."""
    decoded = {name: unquote(value) if name.lower().startswith("ce-") else value
               for name, value in headers.items()}
    return from_http(decoded, body)


def decoded(event: CloudEvent) -> CloudEvent:
    """``event`` with its string attributes percent-decoded (for events parsed elsewhere)."""
    attributes = {name: unquote(value) if isinstance(value, str) else value
                  for name, value in event.get_attributes().items()}
    return CloudEvent(attributes, event.get_data())


def _percent_encoded(value: str) -> str:
    return quote(value, safe="".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '%"'))


def event_data(event: CloudEvent, accepted: tuple[str, ...]) -> dict[str, Any]:
    """The JSON data of ``event`` after checking its type and attributes.

    Raises
    ------
    BadEvent
        When the type is not one of ``accepted``, the subject is missing, or
        the data is not a JSON object; the message says which.
    """
    event_type = event.get("type")
    if event_type not in accepted:
        raise BadEvent(f"event type {event_type!r} is not handled here; expected "
                       f"{' or '.join(accepted)}")
    if not event.get("subject"):
        raise BadEvent(f"{event_type} event {event.get('id')!r} has no subject "
                       "(the observation file name)")
    data = event.get_data()
    if not isinstance(data, dict):
        raise BadEvent(f"{event_type} event {event.get('id')!r} data must be a JSON object, "
                       f"got {type(data).__name__}")
    return data
