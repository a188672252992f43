"""What made a record: the software, the model, the screen and settings, and the input's content.

After a retrain or a change of settings, an archive's records are a mix of
old and new results; the provenance in every record tells them apart, and
lets a resumed ``aurora run`` reprocess only what a change affects
(:mod:`marsaurora.resume`). Five facts, each a short string:

- ``software``: the marsaurora version and a digest of its code
  (``0.1.0+3f2a9c01b7de``): the version changes with releases, the science
  with every commit, and a rerun must not keep what older code made (the
  demo, run again after an update, printed the older catalogue's peaks);
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
from collections.abc import Collection, Iterable
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
DATA_PACKAGES = frozenset({"eventing", "weights"})
"""Subpackages that only carry data, installed from outside ``src/`` (pyproject's
``package-dir``): a wheel has them and a checkout does not, and their files make no record
(the weights count in ``model_sha256``). ``tests/test_wheel.py`` checks the two agree."""


def run_provenance(options: "PipelineOptions") -> dict[str, Any]:
    """The provenance every record of a run with these options starts with.

    ``model_sha256`` is null here: the detect step sets it
    (:func:`model_digest`) on the records the detector sees.
    """
    return {"software": software_identity(), "model_sha256": None, "screen": options.screen,
            "settings_digest": settings_digest(options)}


@lru_cache(maxsize=1)
def software_identity() -> str:
    """This marsaurora's version and the digest of its code (read once per process)."""
    return f"{__version__}+{code_digest(Path(__file__).parent)}"


def code_digest(package: Path) -> str:
    """12 hex digits over every Python file of ``package``: each file's path within it and its
    bytes, in path order. A checkout, its wheel and an image built from it agree; a change
    to any module changes it, whether or not it changes records (a spurious rerun costs
    time, a missed one gives a catalogue the code no longer makes)."""
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package)
        if relative.parts[0] in DATA_PACKAGES:
            continue
        digest.update(relative.as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


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
    An aspect ``current`` leaves null is not compared: this run cannot know it (no
    detector, or a cluster's images making the records with their own code and weights).
    A record without provenance (made before it existed) differs in every other
    aspect. The screen counts as a setting; the model only where a detector
    looked at the scan (a scan the screen stopped does not depend on it).
    """
    aspects = tuple(a for a in aspects if current[_FIELD_OF_ASPECT[a]] is not None)
    if not recorded:
        return list(aspects)
    changed = [aspect for aspect in aspects
               if recorded.get(_FIELD_OF_ASPECT[aspect]) != current[_FIELD_OF_ASPECT[aspect]]
               and not (aspect == "model" and recorded.get("model_sha256") is None)]
    if "settings" in aspects and "settings" not in changed \
            and recorded.get("screen") != current["screen"]:
        changed.append("settings")
    return changed


def other_software(records: Iterable[dict[str, Any]], observations: Collection[str],
                   software: str) -> Counter[str]:
    """How many of the records of ``observations`` each software other than ``software`` made:
    functions whose images were built from other code than this install, whose records the
    next run would take for stale and process again."""
    made: Counter[str] = Counter()
    for record in records:
        by = (record.get("provenance") or {}).get("software")
        if record.get("observation") in observations and by is not None and by != software:
            made[str(by)] += 1
    return made


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
