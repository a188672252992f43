"""Poll a source; copy each new or changed L2B file into the bucket and announce it once.

What has been announced is remembered in the bucket itself, so a restarted
watcher (a new pod, a crash) neither re-emits nor skips: a base object
(``<output prefix>watcher/<source id>.json``) plus small delta objects
(``.../<source id>/delta-<n>.json``) written every :data:`FLUSH_FILES` files
and at the end of each poll, folded into the base once there are
:data:`MAX_DELTAS`. Writing the whole state after every file cost
quadratic bytes (about 190 GB for 50,000 files). The order per file is: copy
into the bucket, send ``observation.stored`` to the sink, remember. A crash
before remembering can re-send a few events; the chain's outputs are
idempotent, so that costs work, not records.

A file is announced only once it has stood still: described the same
(size, and ETag or modification time) twice, :data:`SETTLE_S` apart, so a
file caught while still being copied is left for the next poll rather than
announced truncated. A file whose listed size or tag later changes (a
replaced product) is announced again. HTTP listings give no sizes, so on an
HTTP archive only new files are checked this way (with a HEAD request each).
"""

import hashlib
import json
import logging
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from marsaurora.events import OBSERVATION_STORED, new_event
from marsaurora.layout import BucketLayout, KeyRefused
from marsaurora.chain.remote import ChainUnreachable, post_event
from marsaurora.storage import ObjectMissing, Storage, StorageUnavailable
from marsaurora.watcher.sources import Entry, Source, SourceError

FLUSH_FILES = 200
MAX_DELTAS = 50
SETTLE_S = 2.0
log = logging.getLogger(__name__)


@dataclass
class PollResult:
    """What one poll did."""

    listed: int = 0
    announced: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    waiting: list[str] = field(default_factory=list)
    """Files still changing (being copied?): looked at again next poll."""


class Watcher:
    """One source, one bucket, one sink."""

    def __init__(self, source: Source, storage: Storage, layout: BucketLayout, sink: str, *,
                 max_bytes: int, settle_s: float = SETTLE_S) -> None:
        self.source = source
        self.storage = storage
        self.layout = layout
        self.sink = sink
        self.max_bytes = max_bytes
        self.settle_s = settle_s
        source_id = hashlib.sha256(source.description.encode()).hexdigest()[:16]
        self.state_key = f"{layout.output_prefix}watcher/{source_id}.json"
        self.delta_prefix = f"{layout.output_prefix}watcher/{source_id}/"
        self.seen: dict[str, Any] = self._load_state()
        self._unsaved: dict[str, Any] = {}

    def poll(self, stop: threading.Event | None = None) -> PollResult:
        """List the source and announce what is new or changed and has stood still.

        One file's failure does not stop the rest.

        Raises
        ------
        SourceError
            When the source cannot be listed at all.
        """
        result = PollResult()
        candidates = []
        for entry in self.source.entries():
            result.listed += 1
            if not self._changed(entry):
                continue
            candidates.append(self._described(entry, result))
        candidates = [entry for entry in candidates if entry is not None]
        if candidates and self.settle_s > 0:
            time.sleep(self.settle_s)
        try:
            for entry in candidates:
                if stop is not None and stop.is_set():
                    break
                still = self._described(entry, result)
                if still is None:
                    continue
                if (still.size, still.tag) != (entry.size, entry.tag):
                    result.waiting.append(entry.path)
                    continue
                try:
                    self._announce(still)
                except (SourceError, StorageUnavailable, ChainUnreachable, KeyRefused) as exc:
                    result.failed[entry.path] = str(exc)
                    log.warning("could not announce %s: %s", entry.path, exc)
                    continue
                result.announced.append(entry.path)
        finally:
            self._save()
        return result

    def _changed(self, entry: Entry) -> bool:
        known = self.seen.get(entry.path)
        if known is None:
            return True
        if entry.size is not None and known.get("listed_size") not in (None, entry.size):
            return True
        return bool(entry.tag) and known.get("tag") not in (None, entry.tag)

    def _described(self, entry: Entry, result: PollResult) -> Entry | None:
        try:
            return self.source.describe(entry)
        except SourceError as exc:
            result.failed[entry.path] = str(exc)
            return None

    def _announce(self, entry: Entry) -> None:
        key = self.layout.input_key(entry.path)
        body = self.source.fetch(entry, self.max_bytes)
        if entry.size is not None and len(body) != entry.size:
            raise SourceError(f"{entry.path} changed while it was fetched ({len(body)} bytes, "
                              f"listed {entry.size}); left for the next poll")
        ref = self.storage.put(key, body, "application/fits")
        name = entry.path.rsplit("/", 1)[-1]
        post_event(self.sink, new_event(OBSERVATION_STORED, "watcher", name,
                                        {**ref.to_json(), "size": len(body)},
                                        identity=f"{ref.key}|{ref.etag}"))
        remembered = {"size": len(body), "etag": ref.etag, "at": time.time(),
                      "listed_size": entry.size, "tag": entry.tag}
        self.seen[entry.path] = remembered
        self._unsaved[entry.path] = remembered
        if len(self._unsaved) >= FLUSH_FILES:
            self._save()
        log.info("announced %s", entry.path, extra={"key": key})

    def _save(self) -> None:
        """Write what was announced since the last save as one delta; fold deltas when many."""
        if not self._unsaved:
            return
        deltas = sorted(self.storage.keys(self.delta_prefix))
        if len(deltas) >= MAX_DELTAS:
            self.storage.put(self.state_key, json.dumps({"source": self.source.description,
                                                         "seen": self.seen}).encode(),
                             "application/json")
            for key in deltas:
                self.storage.delete(key)
        else:
            number = max((int(k.rsplit("-", 1)[1].split(".")[0]) for k in deltas), default=0) + 1
            self.storage.put(f"{self.delta_prefix}delta-{number:08d}.json",
                             json.dumps({"source": self.source.description,
                                         "seen": self._unsaved}).encode(), "application/json")
        self._unsaved = {}

    def _load_state(self) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key in [self.state_key, *sorted(self.storage.keys(self.delta_prefix))]:
            try:
                body, _ = self.storage.get(key)
            except ObjectMissing:
                continue
            state = json.loads(body)
            if state.get("source") != self.source.description:
                raise SourceError(f"{key} belongs to {state.get('source')!r}, "
                                  f"not {self.source.description!r}")
            seen.update(state.get("seen", {}))
        return seen


def watch_forever(watcher: Watcher, interval_s: float) -> None:
    """Poll every ``interval_s`` until SIGTERM or SIGINT; a failed poll is retried next time."""
    stop = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stop.set())
    while not stop.is_set():
        try:
            result = watcher.poll(stop)
            log.info("poll: %d listed, %d announced, %d failed, %d still changing",
                     result.listed, len(result.announced), len(result.failed),
                     len(result.waiting))
        except SourceError as exc:
            log.warning("poll failed, retrying in %.0f s: %s", interval_s, exc)
        except Exception:  # noqa: BLE001 - one bad poll must not end the watcher
            log.exception("poll failed unexpectedly; retrying in %.0f s", interval_s)
        stop.wait(interval_s)
