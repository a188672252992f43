"""Bucket notifications (S3 / MinIO "ObjectCreated" records) turned into our CloudEvents.

For users who drop files into the bucket themselves: point the bucket's
webhook notifications at the ``aurora-ingest`` function and each new L2B
object under the input prefix becomes one ``observation.stored`` event,
the same event the watcher and ``aurora run --via-events`` send. Records
for other buckets, other prefixes, other names or other event kinds, and
malformed records, are skipped and counted, not refused: a bucket sends what
it sends, and one bad record must not cost the good ones beside it. The same
object (key and etag) named twice in one notification is announced once.
"""

import os
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_plus

from cloudevents.http import CloudEvent
from parliament import Context

from marsaurora import logs
from marsaurora.config import Settings
from marsaurora.events import OBSERVATION_STORED, new_event
from marsaurora.layout import BucketLayout, KeyRefused
from marsaurora.chain.remote import ChainUnreachable, post_event
from marsaurora.watcher.sources import L2B_NAME

MAX_RECORDS = 1000


def events_from_notification(payload: Any, layout: BucketLayout) -> tuple[list[CloudEvent], int]:
    """The ``observation.stored`` events a notification asks for, and how many records it skipped.

    Raises
    ------
    ValueError
        When the payload is not an S3 notification (no ``Records`` list).
    """
    records = payload.get("Records") if isinstance(payload, dict) else None
    if not isinstance(records, list) or len(records) > MAX_RECORDS:
        raise ValueError(f"not an S3 event notification: expected a JSON object with a "
                         f"'Records' list of at most {MAX_RECORDS}")
    events, skipped = [], 0
    seen: set[tuple[str, str]] = set()
    for record in records:
        event = _event(record, layout)
        identity = None if event is None else (event.get_data()["key"], event.get_data()["etag"])
        if identity is None or identity in seen:
            skipped += 1
        else:
            seen.add(identity)
            events.append(event)
    return events, skipped


def _event(record: Any, layout: BucketLayout) -> CloudEvent | None:
    try:
        kind = str(record["eventName"])
        bucket = str(record["s3"]["bucket"]["name"])
        obj = record["s3"]["object"]
        key = unquote_plus(str(obj["key"]))
        size = _size(obj.get("size", 0))
    except (KeyError, TypeError, AttributeError, ValueError):
        return None
    if "ObjectCreated" not in kind or bucket != layout.bucket:
        return None
    try:
        layout.relative_input(key)
    except KeyRefused:
        return None
    name = key.rsplit("/", 1)[-1]
    if not L2B_NAME.match(name):
        return None
    etag = str(obj.get("eTag", "")).strip('"')
    return new_event(OBSERVATION_STORED, "ingest", name, {
        "bucket": bucket, "key": key, "etag": etag, "size": size}, identity=f"{key}|{etag}")


def _size(value: Any) -> int:
    """An object size from a notification: a whole number of bytes, or ValueError."""
    if value in (None, ""):
        return 0
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"size {value!r} is not a whole number")
    size = int(value)
    if not 0 <= size < 1 << 62:
        raise ValueError(f"size {value!r} is out of range")
    return size


def ingest_main() -> Callable[[Context], tuple[str, int, dict[str, str]]]:
    """The ``main(context)`` of the ``aurora-ingest`` function; events go to ``K_SINK``."""
    settings = Settings.from_env()
    logs.configure(settings.log_level)
    layout = BucketLayout.from_settings(settings)

    def main(context: Context) -> tuple[str, int, dict[str, str]]:
        sink = os.environ.get("K_SINK", "")
        if not sink:
            return _text(503, "no K_SINK: bind this function to the Broker (SinkBinding)")
        try:
            events, skipped = events_from_notification(
                context.request.get_json(force=True, silent=True), layout)
        except ValueError as exc:
            return _text(400, str(exc))
        try:
            for event in events:
                post_event(sink, event)
        except ChainUnreachable as exc:
            return _text(503, f"{exc}; the bucket will retry the notification")
        return _text(202, f"{len(events)} announced, {skipped} skipped")

    return main


def _text(status: int, message: str) -> tuple[str, int, dict[str, str]]:
    return message, status, {"content-type": "text/plain; charset=utf-8"}
