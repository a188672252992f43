"""Events between stages carry a seal, so no other broker client can forge a record or boxes.

Anyone who can post to the Broker can send any event type, and the record
stage would store whatever record such an event carried. Every event a
stage emits therefore carries ``seal``: an HMAC-SHA256 of its type, subject
and data, keyed by ``AURORA_SEAL_KEY`` when set, otherwise by a key derived
from the bucket's secret key, which every stage holds already and an
outsider without bucket access does not. Every stage after preprocess checks
the seal before acting; preprocess needs none, since ``observation.stored``
only points at an object in the bucket and comes from outside the chain
(the watcher, the ingest function, an uploader).
"""

import hashlib
import hmac
import json
import logging
from typing import Any

from cloudevents.http import CloudEvent

from marsaurora import jsonsafe
from marsaurora.events import BadEvent

SEAL_FIELD = "seal"
log = logging.getLogger(__name__)


def seal_key(configured: str, bucket_secret: str | None) -> bytes:
    """The key events are sealed with: ``AURORA_SEAL_KEY``, else one derived from the bucket's
    secret key; empty (no sealing) when neither exists."""
    if configured:
        return configured.encode("utf-8")
    if bucket_secret:
        return hashlib.sha256(b"marsaurora event seal\0" + bucket_secret.encode("utf-8")).digest()
    log.warning("events are not sealed: set AURORA_SEAL_KEY (no bucket secret key either)")
    return b""


def sealed(event: CloudEvent, key: bytes) -> CloudEvent:
    """``event`` with its seal in its data (replacing any it had)."""
    data = event.get_data()
    if not key or not isinstance(data, dict):
        return event
    body = {name: value for name, value in data.items() if name != SEAL_FIELD}
    return CloudEvent(event.get_attributes(), {**body, SEAL_FIELD: _mac(event, body, key)})


def check(event: CloudEvent, key: bytes) -> None:
    """Refuse an event whose seal is missing or wrong.

    Raises
    ------
    BadEvent
        When ``key`` is set and the event was not sealed with it.
    """
    if not key:
        return
    data = event.get_data()
    if not isinstance(data, dict) or not isinstance(data.get(SEAL_FIELD), str):
        raise BadEvent(f"{event.get('type')} event carries no seal; only the chain's own stages "
                       "may send it")
    body = {name: value for name, value in data.items() if name != SEAL_FIELD}
    if not hmac.compare_digest(data[SEAL_FIELD], _mac(event, body, key)):
        raise BadEvent(f"{event.get('type')} event's seal does not match its content; it was "
                       "changed, or sent by something other than the chain's stages "
                       "(AURORA_SEAL_KEY must be the same for every stage)")


def is_sealed(event: CloudEvent, key: bytes) -> bool:
    """Whether ``event`` passes :func:`check`."""
    try:
        check(event, key)
    except BadEvent:
        return False
    return True


def _mac(event: CloudEvent, body: dict[str, Any], key: bytes) -> str:
    canonical = json.dumps([event.get("type"), event.get("subject"), jsonsafe.finite(body)],
                           sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hmac.new(key, canonical.encode("utf-8"), hashlib.sha256).hexdigest()
