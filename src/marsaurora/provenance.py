"""What made a record: the software, the model, the screen and settings, and the input's content.

After a retrain or a change of settings, an archive's records are a mix of
old and new results; the provenance in every record tells them apart, and
lets a resumed ``aurora run`` reprocess only what a change affects
(:mod:`marsaurora.resume`). Five facts, each a short string:

- ``software``: the marsaurora version;
- ``model_sha256``: the detector weights that looked at the scan (null when no
  detector did: the screen stopped it, or there is none);
- ``screen``: ``physical`` or ``paper``;
- ``settings_digest``: a digest of every setting that can change a record
  (screen thresholds, fusion, heatmap range, read limits, the detector's
  backend, confidence, IoU and views), but not of those that only change speed
  (threads, batch size) or are covered by the model digest (weights path,
  precision);
- ``input_sha256`` and ``input_bytes``: the file the record describes.
"""

import hashlib
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from marsaurora import __version__
from marsaurora.detect import DetectorOptions, model_file

if TYPE_CHECKING:
    from marsaurora.pipeline import PipelineOptions

ASPECTS = ("model", "settings", "software")
"""What a record's provenance can differ in, as ``aurora run --reprocess-if`` names it."""
_FIELD_OF_ASPECT = {"model": "model_sha256", "settings": "settings_digest", "software": "software"}
CHUNK_BYTES = 1 << 20


def run_provenance(options: "PipelineOptions") -> dict[str, Any]:
    """The provenance every record of a run with these options starts with.

    ``model_sha256`` is null here: the detect step sets it
    (:func:`model_digest`) on the records the detector sees.
    """
    return {"software": __version__, "model_sha256": None, "screen": options.screen,
            "settings_digest": settings_digest(options)}


def model_digest(options: DetectorOptions) -> str:
    """The sha256 of the weights these detector options load (read once per process)."""
    return _file_sha256(model_file(options).resolve())


def settings_digest(options: "PipelineOptions") -> str:
    """16 hex digits over every setting that can change a record (see the module docstring)."""
    plain = asdict(replace(options, detector=None))
    if options.detector is not None:
        plain["detector"] = {"backend": options.detector.backend,
                             "confidence": options.detector.confidence,
                             "iou": options.detector.iou, "views": options.detector.views}
    text = json.dumps(plain, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def input_identity(path: Path) -> tuple[str, int] | None:
    """The sha256 and size of a file, or None when it cannot be read (its record says why)."""
    digest = hashlib.sha256()
    size = 0
    try:
        with path.open("rb") as stream:
            while chunk := stream.read(CHUNK_BYTES):
                digest.update(chunk)
                size += len(chunk)
    except OSError:
        return None
    return digest.hexdigest(), size


def stamp(run: dict[str, Any], identity: tuple[str, int] | None) -> dict[str, Any]:
    """A record's provenance: the run's, with its input's digest and size."""
    sha, size = identity if identity is not None else (None, None)
    return {**run, "input_sha256": sha, "input_bytes": size}


def differs(recorded: dict[str, Any] | None, current: dict[str, Any],
            aspects: tuple[str, ...] = ASPECTS) -> list[str]:
    """Which of ``aspects`` a record's provenance differs in from the current run's.

    ``current`` is :func:`run_provenance` with the current ``model_sha256``.
    A record without provenance (made before it existed) differs in every
    aspect. The screen counts as a setting; the model only where a detector
    looked at the scan (a scan the screen stopped does not depend on it).
    """
    if not recorded:
        return list(aspects)
    changed = [aspect for aspect in aspects
               if recorded.get(_FIELD_OF_ASPECT[aspect]) != current[_FIELD_OF_ASPECT[aspect]]
               and not (aspect == "model" and recorded.get("model_sha256") is None)]
    if "settings" in aspects and "settings" not in changed \
            and recorded.get("screen") != current["screen"]:
        changed.append("settings")
    return changed


def provenance_summary(records: Iterable[dict[str, Any]]) -> dict[str, Counter[str]]:
    """How many records each software version, model, screen and settings digest made."""
    fields = {"software": "software", "model": "model_sha256", "screen": "screen",
              "settings": "settings_digest"}
    counts: dict[str, Counter[str]] = {aspect: Counter() for aspect in fields}
    for record in records:
        provenance = record.get("provenance") or {}
        for aspect, name in fields.items():
            value = provenance.get(name) if provenance else "(no provenance: an older record)"
            counts[aspect][str(value) if value is not None else "(none)"] += 1
    return counts


@lru_cache(maxsize=8)
def _file_sha256(path: Path) -> str:
    identity = input_identity(path)
    if identity is None:
        raise OSError(f"cannot read the detector weights {path}")
    return identity[0]
