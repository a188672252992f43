"""Serve a stage through the ``parliament-functions`` runtime (Knative's Python functions).

``functions/<stage>/func.py`` is only ``main = stage_main("<stage>")``:
settings are read and the bucket client built once, when the runtime loads
the function, so a misconfigured function fails at start with a clear
message instead of on the first event. ``main.readiness`` says whether the
function can work yet (the detect stage loads its model in the background);
:mod:`marsaurora.chain.serve` answers the readiness probe with it.
"""

from collections.abc import Callable

from parliament import Context

from marsaurora import logs
from marsaurora.chain.context import Reply, StageContext
from marsaurora.chain.run import HANDLERS, run_stage
from marsaurora.config import Settings
from marsaurora.events import binary, decoded

Response = tuple[bytes | str, int, dict[str, str]]


def stage_main(stage: str) -> Callable[[Context], Response]:
    """The ``main(context)`` of one stage's function."""
    if stage not in HANDLERS:
        raise ValueError(f"no stage {stage!r}; stages are {', '.join(HANDLERS)}")
    settings = Settings.from_env()
    logs.configure(settings.log_level)
    stage_context = StageContext.from_settings(settings, stage)

    def main(context: Context) -> Response:
        event = context.cloud_event
        if event is None:
            return _text(400, "the request is not a CloudEvent; send one in binary or "
                              "structured mode with ce-type, ce-source, ce-id, ce-specversion")
        return to_response(run_stage(stage, decoded(event), stage_context))

    main.readiness = stage_context.readiness  # type: ignore[attr-defined]
    return main


def to_response(reply: Reply) -> Response:
    """A Flask response: the event in binary mode, or a short text reason."""
    if reply.event is None:
        return _text(reply.status, reply.message)
    headers, body = binary(reply.event)
    return body, reply.status, dict(headers)


def _text(status: int, message: str) -> Response:
    return message, status, {"content-type": "text/plain; charset=utf-8"}
