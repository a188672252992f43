"""Resumable, incremental runs: what an ``--out`` folder already holds, and one current record each.

An archive run takes hours and is rerun every month for the new orbits. A
second ``aurora run`` into the same folder therefore processes only what is
not done yet:

- an input whose record was made from the same content (sha256 and size)
  with the same provenance (:mod:`marsaurora.provenance`) is skipped;
- ``reprocess_if`` narrows which provenance differences count (``model``,
  ``settings``, ``software``), ``force`` reprocesses everything;
- a record of an ``internal`` error (a bug or a dead worker, not the file's
  fault) is always retried;
- an input superseded by a newer product version of the same observation
  already recorded is skipped.

Records are appended one line at a time and flushed, so a run killed at any
moment (even SIGKILL) leaves at most one partial last line, which the next
run cuts off (:func:`repair`). After each run :func:`consolidate` keeps one
current record per observation: the latest record of the highest product
version (``vVV-RR``); every record it replaces moves to ``superseded.jsonl``,
never deleted.

File digests are cached in ``.input-digests.json`` by path, size and
modification time, so an unchanged rerun over 20,000 files reads no file.
"""

import json
import logging
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from marsaurora import jsonsafe
from marsaurora.emus import parse_filename
from marsaurora.provenance import ASPECTS, differs, input_identity
from marsaurora.statefile import load_json_object, write_atomically

RECORDS_FILE = "observations.jsonl"
HEATMAPS_DIR = "heatmaps"
"""Where ``aurora run --png`` writes heatmaps and overlays, inside ``--out``."""
SUPERSEDED_FILE = "superseded.jsonl"
DIGEST_CACHE_FILE = ".input-digests.json"
RETRIED_ERRORS = frozenset({"internal"})
"""Error codes that say nothing about the file, so a rerun tries it again."""
log = logging.getLogger(__name__)


class RunFolderError(ValueError):
    """An ``--out`` folder whose records cannot be read; the message says what to do."""


@dataclass
class Plan:
    """Which inputs a run processes, and why the others are skipped."""

    todo: list[Path] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    """Skipped inputs by reason: ``done`` (same content and provenance) or ``superseded``."""
    reasons: Counter[str] = field(default_factory=Counter)
    """Processed inputs by reason: ``new``, ``changed``, ``retry``, ``forced`` or the
    provenance aspects that differ (``model``, ``settings``, ``software``)."""

    def describe(self) -> str:
        """One line for people."""
        done = ", ".join(f"{n} {why}" for why, n in sorted(self.reasons.items()))
        skipped = ", ".join(f"{n} {why}" for why, n in sorted(self.skipped.items()))
        return (f"{len(self.todo)} to process ({done or 'none'}); "
                f"{sum(self.skipped.values())} skipped ({skipped or 'none'})")


def observation_key(name: str) -> tuple[str, tuple[int, int]]:
    """The observation a file name is of, and its product version.

    Two files of the same observation differ only in ``vVV-RR``; a name that
    does not follow the EMUS convention is its own observation, version (0, 0).
    """
    try:
        parsed = parse_filename(name)
    except ValueError:
        return name, (0, 0)
    start = name.lower().rindex("_v")
    return name[:start], (parsed.version, parsed.revision)


class RunFolder:
    """The records, superseded records and digest cache of one ``--out`` folder."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.records_path = out_dir / RECORDS_FILE
        self.superseded_path = out_dir / SUPERSEDED_FILE
        self.digests_path = out_dir / DIGEST_CACHE_FILE
        self._digests: dict[str, list[Any]] = {}

    def repair(self) -> int:
        """Cut a partial last line (a run killed mid-write); the number of bytes cut."""
        path = self.records_path
        if not path.is_file():
            return 0
        size = path.stat().st_size
        if size == 0:
            return 0
        with path.open("rb+") as stream:
            stream.seek(max(0, size - 1))
            if stream.read(1) == b"\n":
                return 0
            keep = _last_line_end(stream, size)
            stream.truncate(keep)
        log.warning("cut a partial last record (the previous run was interrupted)",
                    extra={"path": str(path), "bytes": size - keep})
        return size - keep

    def records(self) -> Iterator[dict[str, Any]]:
        """Every record in the records file, in order, one at a time (after :meth:`repair`)."""
        if not self.records_path.is_file():
            return
        with self.records_path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise RunFolderError(
                        f"{self.records_path}:{number} is not a JSON record ({exc}); move the "
                        "file away to start over, or delete that line") from None

    def _summaries(self) -> dict[str, dict[str, Any]]:
        """Per observation name, what deciding to skip needs of its last record: its error code
        and provenance (not the whole record, so memory stays small however long the archive)."""
        return {str(record.get("observation")): {
                    "error": (record.get("error") or {}).get("code"),
                    "provenance": record.get("provenance")}
                for record in self.records()}

    def plan(self, paths: Sequence[Path], current: dict[str, Any], *, force: bool = False,
             reprocess_if: tuple[str, ...] = ASPECTS) -> Plan:
        """Which of ``paths`` to process; ``current`` is this run's provenance."""
        unknown = set(reprocess_if) - set(ASPECTS)
        if unknown:
            raise ValueError(f"--reprocess-if takes {', '.join(ASPECTS)}, not "
                             f"{', '.join(sorted(unknown))}")
        self.repair()
        by_name = self._summaries()
        newest = _newest_versions(by_name)
        self._digests = load_json_object(self.digests_path)
        plan = Plan()
        for path in paths:
            why = "forced" if force else self._why_process(path, by_name.get(path.name),
                                                           current, reprocess_if)
            key, version = observation_key(path.name)
            if why is None or (why == "new" and newest.get(key, version) > version):
                plan.skipped["done" if why is None else "superseded"] += 1
                continue
            plan.todo.append(path)
            plan.reasons[why] += 1
        return plan

    def _why_process(self, path: Path, record: dict[str, Any] | None,
                     current: dict[str, Any], reprocess_if: tuple[str, ...]) -> str | None:
        if record is None:
            return "new"
        if record["error"] in RETRIED_ERRORS:
            return "retry"
        recorded = record["provenance"] or {}
        identity = self.identity(path)
        if identity != (recorded.get("input_sha256"), recorded.get("input_bytes")) \
                and not (identity is None and recorded.get("input_sha256") is None):
            return "changed"
        changed = differs(record["provenance"], current, reprocess_if)
        return ",".join(changed) if changed else None

    def identity(self, path: Path) -> tuple[str, int] | None:
        """The file's sha256 and size, from the cache while its size and mtime are unchanged."""
        try:
            stat = path.stat()
        except OSError:
            return None
        key = str(path.resolve())
        cached = self._digests.get(key)
        if cached and cached[:2] == [stat.st_size, stat.st_mtime_ns]:
            return cached[2], stat.st_size
        identity = input_identity(path)
        if identity is not None:
            self._digests[key] = [stat.st_size, stat.st_mtime_ns, identity[0]]
        return identity

    def remember(self, paths: Iterable[Path]) -> None:
        """Cache the digests the records of ``paths`` hold, and save the cache."""
        by_name = self._summaries()
        for path in paths:
            provenance = (by_name.get(path.name) or {}).get("provenance") or {}
            try:
                stat = path.stat()
            except OSError:
                continue
            if provenance.get("input_sha256") and provenance.get("input_bytes") == stat.st_size:
                self._digests[str(path.resolve())] = [stat.st_size, stat.st_mtime_ns,
                                                      provenance["input_sha256"]]
        write_atomically(self.digests_path, json.dumps(self._digests))

    def consolidate(self) -> int:
        """Keep one current record per observation; move the rest to ``superseded.jsonl``.

        Two passes over the file, holding only one index per observation.
        Returns how many records moved.
        """
        self.repair()
        winner: dict[str, tuple[tuple[int, int], int]] = {}
        count = 0
        for index, record in enumerate(self.records()):
            key, version = observation_key(str(record.get("observation", "")))
            if key not in winner or version >= winner[key][0]:
                winner[key] = (version, index)
            count = index + 1
        keep = {index for _, index in winner.values()}
        if len(keep) == count:
            return 0
        partial = self.records_path.with_name(f".{RECORDS_FILE}.partial")
        with partial.open("w", encoding="utf-8") as kept, \
                self.superseded_path.open("a", encoding="utf-8") as moved:
            for index, record in enumerate(self.records()):
                (kept if index in keep else moved).write(jsonsafe.dumps(record) + "\n")
            for stream in (moved, kept):
                stream.flush()
                os.fsync(stream.fileno())
        os.replace(partial, self.records_path)
        log.info("superseded records moved", extra={"records": count - len(keep),
                                                     "path": str(self.superseded_path)})
        return count - len(keep)


def _newest_versions(by_name: dict[str, dict[str, Any]]) -> dict[str, tuple[int, int]]:
    newest: dict[str, tuple[int, int]] = {}
    for name in by_name:
        key, version = observation_key(name)
        newest[key] = max(version, newest.get(key, version))
    return newest


def _last_line_end(stream: Any, size: int) -> int:
    """Offset just past the last newline of a binary stream of ``size`` bytes (0 if none)."""
    step = 1 << 16
    end = size
    while end > 0:
        start = max(0, end - step)
        stream.seek(start)
        cut = stream.read(end - start).rfind(b"\n")
        if cut >= 0:
            return start + cut + 1
        end = start
    return 0
