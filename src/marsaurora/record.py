"""The record of one observation: the typed form of one ``observations.jsonl`` line.

Every mode makes the same record (the embedded runner, the event chain, the
dead-letter sink, the batch client's timeouts), so it is one type that owns
its JSON form, its JSON Schema (published as
``docs/observation-record.schema.json`` and checked against this class by a
test) and its error constructor, which accepts only the codes of
:data:`marsaurora.errors.ERROR_CODES`.

Detections, flagged boxes and candidates stay JSON objects inside the record:
they are built by the catalogue and the screens, which own their fields.
"""

import copy
import types
from dataclasses import asdict, dataclass, field, fields
from typing import Any, get_args, get_origin

from marsaurora import jsonsafe
from marsaurora.errors import ERROR_CODES

STATUSES = ("aurora", "no_aurora", "error")
STEPS = ("read", "preprocess", "classify", "detect", "catalog")
"""The steps of one observation, in order; a record's ``stage`` is the last it reached."""


class RecordInvalid(ValueError):
    """A JSON object that is not an observation record; the message says which field."""


@dataclass
class RecordError:
    """Why an observation could not be processed: a stable code and words a user can act on."""

    code: str
    message: str

    def __post_init__(self) -> None:
        if self.code not in ERROR_CODES:
            raise ValueError(f"unknown error code {self.code!r}; add it to ERROR_CODES")


@dataclass
class ObservationRecord:
    """What the pipeline says of one input file.

    Attributes
    ----------
    observation : str
        The file name.
    status : str
        One of :data:`STATUSES`.
    stage : str
        The last of :data:`STEPS` reached.
    error : RecordError or None
        Why the observation failed, when it did.
    candidates, detections, flagged : list of dict
        The screen's candidates; the auroras (one per connected emission,
        located on Mars); the detector boxes with no physical excess under them.
    timings_ms : dict
        Milliseconds per step.
    coverage : dict or None
        The cells and local-time hours the scan saw on the night disk
        (:func:`marsaurora.occurrence.night_coverage`), for occurrence rates.
    provenance : dict or None
        What made the record (:mod:`marsaurora.provenance`): software, model,
        screen, settings digest, and the input's sha256 and size.
    """

    observation: str
    status: str = "error"
    stage: str = "read"
    error: RecordError | None = None
    candidates: list[dict[str, Any]] = field(default_factory=list)
    detections: list[dict[str, Any]] = field(default_factory=list)
    flagged: list[dict[str, Any]] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    shape: list[int] | None = None
    orbit: int | None = None
    mode: str | None = None
    swath: str | None = None
    product_version: str | None = None
    start_utc: str | None = None
    screen: str | None = None
    screen_stats: dict[str, float] | None = None
    warnings: list[str] | None = None
    disk_detected: bool | None = None
    coverage: dict[str, list[int]] | None = None
    provenance: dict[str, Any] | None = None

    def fail(self, code: str, message: str) -> "ObservationRecord":
        """Mark the record failed with ``code`` (one of :data:`ERROR_CODES`); returns it."""
        self.error = RecordError(code, message)
        self.status = "error"
        return self

    @classmethod
    def failed(cls, observation: str, code: str, message: str, *,
               stage: str = "read") -> "ObservationRecord":
        """A new record of an observation that failed at ``stage``."""
        return cls(observation, stage=stage).fail(code, message)

    def to_json(self) -> dict[str, Any]:
        """The ``observations.jsonl`` object: optional fields only when known, no NaN."""
        plain = asdict(self)
        return jsonsafe.finite({key: value for key, value in plain.items()
                                if value is not None or key in ALWAYS_PRESENT})

    @classmethod
    def from_json(cls, data: Any) -> "ObservationRecord":
        """Parse a record (a copy: the record may change, ``data`` does not), checking every
        field's type.

        Raises
        ------
        RecordInvalid
            Naming the first field that does not fit.
        """
        if not isinstance(data, dict):
            raise RecordInvalid(f"a record is a JSON object, not {type(data).__name__}")
        data = copy.deepcopy(data)
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise RecordInvalid(f"unknown record fields {unknown}")
        values: dict[str, Any] = {}
        for spec in fields(cls):
            if spec.name not in data:
                if spec.name in ALWAYS_PRESENT:
                    raise RecordInvalid(f"record lacks {spec.name!r}")
                continue
            values[spec.name] = _checked(spec.name, data[spec.name], spec.type)
        record = cls(**values)
        if record.status not in STATUSES:
            raise RecordInvalid(f"status {record.status!r} is not one of {STATUSES}")
        if record.stage not in STEPS:
            raise RecordInvalid(f"stage {record.stage!r} is not one of {STEPS}")
        return record


ALWAYS_PRESENT = frozenset({"observation", "status", "stage", "error", "candidates",
                            "detections", "flagged", "timings_ms"})
"""Fields every record has, even as null or empty."""


_TEXT_OR_NULL = {"type": ["string", "null"]}
PROVENANCE_SCHEMA: dict[str, Any] = {
    "type": "object", "additionalProperties": False,
    "required": ["software", "model_sha256", "screen", "settings_digest", "input_sha256",
                 "input_bytes"],
    "properties": {"software": {"type": "string"}, "model_sha256": _TEXT_OR_NULL,
                   "screen": {"type": "string"}, "settings_digest": {"type": "string"},
                   "input_sha256": _TEXT_OR_NULL,
                   "input_bytes": {"type": ["integer", "null"], "minimum": 0}}}
"""A record's ``provenance`` (made by :mod:`marsaurora.provenance`)."""
_INDICES = {"type": "array", "items": {"type": "integer", "minimum": 0}}
COVERAGE_SCHEMA: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["cells", "hours"],
    "properties": {"cells": _INDICES, "hours": _INDICES}}
"""A record's ``coverage`` (made by :mod:`marsaurora.occurrence`)."""


def _checked(name: str, value: Any, kind: Any) -> Any:
    if value is None:
        if name in ALWAYS_PRESENT and name != "error":
            raise RecordInvalid(f"record field {name!r} may not be null")
        return None
    if kind == RecordError | None:
        if not isinstance(value, dict) or set(value) != {"code", "message"}:
            raise RecordInvalid(f"record field 'error' must be {{code, message}}, not {value!r}")
        try:
            return RecordError(str(value["code"]), str(value["message"]))
        except ValueError as exc:
            raise RecordInvalid(str(exc)) from None
    (plain,), _ = _options(kind)
    base = get_origin(plain) or plain
    accepted = (int, float) if base is float else base
    if not isinstance(value, accepted) or (base in (int, float) and isinstance(value, bool)):
        raise RecordInvalid(f"record field {name!r} must be {base.__name__}, "
                            f"not {type(value).__name__}")
    return value


def _options(kind: Any) -> tuple[list[Any], bool]:
    """The non-null types a field may hold, and whether it may be null."""
    if isinstance(kind, types.UnionType):
        kinds = get_args(kind)
        return [k for k in kinds if k is not type(None)], type(None) in kinds
    return [kind], False


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one ``observations.jsonl`` line."""
    properties: dict[str, Any] = {}
    for spec in fields(ObservationRecord):
        properties[spec.name] = _schema_of(spec.name, spec.type)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://github.com/marsaurora/marsaurora/observation-record.schema.json",
        "title": "marsaurora observation record",
        "description": "One line of observations.jsonl: what the pipeline says of one input "
                       "file (marsaurora.record.ObservationRecord).",
        "type": "object",
        "additionalProperties": False,
        "required": sorted(ALWAYS_PRESENT),
        "properties": properties,
    }


def _schema_of(name: str, kind: Any) -> dict[str, Any]:
    if name == "status":
        return {"enum": list(STATUSES)}
    if name == "stage":
        return {"enum": list(STEPS)}
    if name == "provenance":
        return {"oneOf": [{"type": "null"}, PROVENANCE_SCHEMA]}
    if name == "coverage":
        return {"oneOf": [{"type": "null"}, COVERAGE_SCHEMA]}
    if name == "error":
        return {"oneOf": [{"type": "null"}, {
            "type": "object", "additionalProperties": False, "required": ["code", "message"],
            "properties": {"code": {"enum": sorted(ERROR_CODES)}, "message": {"type": "string"}}}]}
    (plain,), nullable = _options(kind)
    schema = _plain_schema(plain)
    return {"oneOf": [{"type": "null"}, schema]} if nullable else schema


def _plain_schema(kind: Any) -> dict[str, Any]:
    origin = get_origin(kind) or kind
    names = {str: "string", int: "integer", float: "number", bool: "boolean", list: "array",
             dict: "object"}
    schema: dict[str, Any] = {"type": names[origin]}
    if origin is list and get_args(kind) and get_args(kind)[0] in names:
        schema["items"] = {"type": names[get_args(kind)[0]]}
    if origin is list and get_args(kind) and get_origin(get_args(kind)[0]) is dict:
        schema["items"] = {"type": "object"}
    return schema
