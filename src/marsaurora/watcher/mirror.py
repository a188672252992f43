"""``aurora fetch``: mirror an archive into a local folder, resumably and incrementally.

A workstation user has no bucket; this keeps a folder in step with the
archive (an HTTP listing, an S3 prefix or another folder: the watcher's
sources, with the same bounds), keeping the archive's relative paths:

- only new files, and files whose size or tag (ETag, Last-Modified or
  modification time) changed, are fetched;
- a file is written to ``<name>.partial`` and moved into place only once
  complete (its size as the archive declared it), so the folder never holds
  a truncated product; an interrupted HTTP download is continued with a
  Range request next time, or started again when the server refuses ranges;
- what was fetched is remembered in ``.mirror-state.json`` (saved every
  :data:`SAVE_EVERY` files and at the end); a file already in place with the
  archive's size is adopted without fetching it again, so a lost state costs
  HEAD requests, not downloads.

Filters (mode, start date, product version) are read from the EMUS file
name; with any filter set, a file whose name does not follow the convention
is left out.
"""

import json
import logging
import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path, PurePosixPath
from typing import Any

from tqdm import tqdm

from marsaurora.emus import parse_filename
from marsaurora.statefile import load_json_object, write_atomically
from marsaurora.watcher.sources import Entry, HttpArchive, Source, SourceError

STATE_FILE = ".mirror-state.json"
PARTIAL_SUFFIX = ".partial"
SAVE_EVERY = 200
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Selection:
    """Which archive files to mirror, from their names."""

    modes: frozenset[str] = frozenset()
    """Observation modes (``os1``, ``os2``, ``osr``, ``osp``); empty keeps every mode."""
    first_day: date | None = None
    last_day: date | None = None
    """Start dates kept, inclusive (the UTC date in the file name)."""
    versions: frozenset[str] = frozenset()
    """Product versions kept, as ``VV-RR`` (``01-04``); empty keeps every version."""

    @property
    def filtering(self) -> bool:
        """Whether any filter is set."""
        return bool(self.modes or self.first_day or self.last_day or self.versions)

    def keeps(self, name: str) -> bool:
        """Whether the file ``name`` passes every filter."""
        if not self.filtering:
            return True
        try:
            parsed = parse_filename(name)
        except ValueError:
            return False
        day = parsed.start_utc.date()
        return ((not self.modes or parsed.mode in self.modes)
                and (self.first_day is None or day >= self.first_day)
                and (self.last_day is None or day <= self.last_day)
                and (not self.versions
                     or f"{parsed.version:02d}-{parsed.revision:02d}" in self.versions))


@dataclass
class MirrorResult:
    """What one mirror pass did."""

    listed: int = 0
    fetched: list[str] = field(default_factory=list)
    unchanged: int = 0
    left_out: int = 0
    """Files the selection did not keep."""
    bytes_fetched: int = 0
    failed: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        """One line for people."""
        return (f"{self.listed} listed, {len(self.fetched)} fetched "
                f"({self.bytes_fetched / 1e6:.1f} MB), {self.unchanged} unchanged, "
                f"{self.left_out} left out by the filters, {len(self.failed)} failed")


def mirror(source: Source, out_dir: Path, *, max_bytes: int, selection: Selection = Selection(),
           progress: bool = True) -> MirrorResult:
    """Bring ``out_dir`` in step with ``source``; one file's failure does not stop the rest.

    Raises
    ------
    SourceError
        When the source cannot be listed at all.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    state = load_json_object(out_dir / STATE_FILE)
    result = MirrorResult()
    entries = list(source.entries())
    result.listed = len(entries)
    unsaved = 0
    with tqdm(total=len(entries), unit="file", disable=not progress, dynamic_ncols=True) as bar:
        for entry in entries:
            bar.update(1)
            if not selection.keeps(PurePosixPath(entry.path).name):
                result.left_out += 1
                continue
            try:
                fetched = _bring(source, entry, out_dir, state, max_bytes)
            except SourceError as exc:
                result.failed[entry.path] = str(exc)
                log.warning("fetch failed", extra={"path": entry.path, "reason": str(exc)})
                continue
            if fetched is None:
                result.unchanged += 1
                continue
            result.fetched.append(entry.path)
            result.bytes_fetched += fetched
            bar.set_postfix_str(f"{result.bytes_fetched / 1e6:.1f} MB")
            unsaved += 1
            if unsaved >= SAVE_EVERY:
                write_atomically(out_dir / STATE_FILE, json.dumps(state))
                unsaved = 0
    write_atomically(out_dir / STATE_FILE, json.dumps(state))
    return result


def _bring(source: Source, entry: Entry, out_dir: Path, state: dict[str, Any],
           max_bytes: int) -> int | None:
    """Fetch one entry if new or changed; the bytes fetched, or None when it was current."""
    target = out_dir / _safe_relative(entry.path)
    if entry.size is None:
        entry = source.describe(entry)
    known = state.get(entry.path)
    if target.is_file() and entry.size == target.stat().st_size and (
            known is None or known == {"size": entry.size, "tag": entry.tag}):
        state[entry.path] = {"size": entry.size, "tag": entry.tag}
        return None
    if entry.size is not None and entry.size > max_bytes:
        raise SourceError(f"{entry.path} is {entry.size} bytes, above the {max_bytes}-byte "
                          "limit (AURORA_MAX_FILE_BYTES)")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + PARTIAL_SUFFIX)
    if isinstance(source, HttpArchive):
        size = source.download(entry, partial, max_bytes)
    else:
        partial.write_bytes(source.fetch(entry, max_bytes))
        size = partial.stat().st_size
    if entry.size is not None and size != entry.size:
        raise SourceError(f"{entry.path} arrived as {size} bytes, the archive says "
                          f"{entry.size}; the next pass tries again")
    os.replace(partial, target)
    state[entry.path] = {"size": size, "tag": entry.tag}
    return size


def _safe_relative(path: str) -> Path:
    """``path`` as a relative path below the mirror folder; refused if it would leave it."""
    parts = PurePosixPath(path).parts
    if not parts or PurePosixPath(path).is_absolute() or any(p in ("..", "") for p in parts) \
            or "\\" in path or "\x00" in path:
        raise SourceError(f"refusing the archive path {path!r}: it would leave the folder")
    return Path(*parts)
