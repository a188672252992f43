"""Poll a source; copy each new L2B file into the bucket once and announce it once.

What has been announced is remembered in the bucket itself
(``<output prefix>watcher/<source id>.json``), written after every file, so
a restarted watcher (a new pod, a crash) neither re-emits nor skips. The
order per file is: copy into the bucket, send ``observation.stored`` to the
sink, remember. A crash between sending and remembering can re-send one
event; the chain's outputs are idempotent, so that costs work, not records.
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
from marsaurora.stack.remote import ChainUnreachable, post_event
from marsaurora.storage import ObjectMissing, Storage, StorageUnavailable
from marsaurora.watcher.sources import Entry, Source, SourceError

log = logging.getLogger(__name__)


@dataclass
class PollResult:
    """What one poll did."""

    listed: int = 0
    announced: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


class Watcher:
    """One source, one bucket, one sink."""

    def __init__(self, source: Source, storage: Storage, layout: BucketLayout, sink: str, *,
                 max_bytes: int) -> None:
        self.source = source
        self.storage = storage
        self.layout = layout
        self.sink = sink
        self.max_bytes = max_bytes
        source_id = hashlib.sha256(source.description.encode()).hexdigest()[:16]
        self.state_key = f"{layout.output_prefix}watcher/{source_id}.json"
        self.seen: dict[str, Any] = self._load_state()

    def poll(self, stop: threading.Event | None = None) -> PollResult:
        """List the source and announce what is new; one file's failure does not stop the rest.

        Raises
        ------
        SourceError
            When the source cannot be listed at all.
        """
        result = PollResult()
        for entry in self.source.entries():
            result.listed += 1
            if entry.path in self.seen:
                continue
            if stop is not None and stop.is_set():
                break
            try:
                self._announce(entry.path)
            except (SourceError, StorageUnavailable, ChainUnreachable, KeyRefused) as exc:
                result.failed[entry.path] = str(exc)
                log.warning("could not announce %s: %s", entry.path, exc)
                continue
            result.announced.append(entry.path)
        return result

    def _announce(self, path: str) -> None:
        key = self.layout.input_key(path)
        body = self.source.fetch(Entry(path), self.max_bytes)
        ref = self.storage.put(key, body, "application/fits")
        name = path.rsplit("/", 1)[-1]
        post_event(self.sink, new_event(OBSERVATION_STORED, "watcher", name,
                                        {**ref.to_json(), "size": len(body)}))
        self.seen[path] = {"size": len(body), "etag": ref.etag, "at": time.time()}
        self.storage.put(self.state_key, json.dumps({"source": self.source.description,
                                                     "seen": self.seen}).encode(),
                         "application/json")
        log.info("announced %s", path, extra={"key": key})

    def _load_state(self) -> dict[str, Any]:
        try:
            body, _ = self.storage.get(self.state_key)
        except ObjectMissing:
            return {}
        state = json.loads(body)
        if state.get("source") != self.source.description:
            raise SourceError(f"{self.state_key} belongs to {state.get('source')!r}, "
                              f"not {self.source.description!r}")
        return dict(state.get("seen", {}))


def watch_forever(watcher: Watcher, interval_s: float) -> None:
    """Poll every ``interval_s`` until SIGTERM or SIGINT; a failed poll is retried next time."""
    stop = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stop.set())
    while not stop.is_set():
        try:
            result = watcher.poll(stop)
            log.info("poll: %d listed, %d announced, %d failed", result.listed,
                     len(result.announced), len(result.failed))
        except SourceError as exc:
            log.warning("poll failed, retrying in %.0f s: %s", interval_s, exc)
        stop.wait(interval_s)
