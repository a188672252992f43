"""Dispatch an event to its stage and turn every failure into the right HTTP answer."""

import logging
from collections.abc import Callable
from dataclasses import replace

from cloudevents.http import CloudEvent

from marsaurora.chain.context import Reply, StageContext
from marsaurora.chain.deadletter import dead_letter
from marsaurora.chain.seal import check, sealed
from marsaurora.chain.stages import (catalog_stage, classify_stage, detect_stage,
                                     preprocess_stage, record_stage, refuse_event)
from marsaurora.detect import ModelError
from marsaurora.events import DEAD_LETTER_STAGE, BadEvent, caused_by, hop
from marsaurora.layout import KeyRefused
from marsaurora.storage import StorageUnavailable

Handler = Callable[[CloudEvent, StageContext], Reply]
HANDLERS: dict[str, Handler] = {
    "preprocess": preprocess_stage,
    "classify": classify_stage,
    "detect": detect_stage,
    "catalog": catalog_stage,
    "record": record_stage,
    DEAD_LETTER_STAGE: dead_letter,
}
SEALED_INPUT = frozenset({"classify", "detect", "catalog", "record"})
"""Stages that act only on events another stage sealed."""
log = logging.getLogger(__name__)


def run_stage(stage: str, event: CloudEvent, context: StageContext) -> Reply:
    """Run one stage on one event; never raises.

    Bad events answer 400 (Knative does not retry them; the dead-letter sink
    gets them); storage outages and a detector not yet loaded answer 503 and
    our own bugs 500 (all retried, then dead-lettered). Callers see a reason,
    never a traceback.
    """
    attributes = {"stage": stage, "event_id": event.get("id"), "subject": event.get("subject"),
                  "event_type": event.get("type")}
    try:
        if stage in SEALED_INPUT and event.get("type") in hop(stage).consumes:
            check(event, context.seal_key)
        reply = HANDLERS[stage](event, context)
        if reply.event is None:
            return reply
        answer = caused_by(reply.event, event)
        if reply.status < 300:
            answer = sealed(answer, context.seal_key)
        return replace(reply, event=answer)
    except (BadEvent, KeyRefused) as exc:
        log.warning("bad event refused: %s", exc, extra=attributes)
        return refuse_event(stage, event, str(exc))
    except StorageUnavailable as exc:
        log.warning("storage unavailable, asking for a retry: %s", exc, extra=attributes)
        return Reply(503, message=f"{stage}: storage unavailable, retry later")
    except ModelError as exc:
        log.error("detector unavailable, asking for a retry: %s", exc, extra=attributes)
        return Reply(503, message=f"{stage}: detector not ready, retry later")
    except Exception:  # noqa: BLE001 - the HTTP server must answer, not crash
        log.exception("stage failed unexpectedly", extra=attributes)
        return Reply(500, message=f"{stage}: internal error; see the function's logs")
