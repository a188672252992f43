"""The event chain as it runs in production: the stages, their server, the event poster.

The stages are free of HTTP: one CloudEvent in, one :class:`Reply` out. The
Knative functions in ``functions/`` (and the local stack) serve them through
the ``parliament-functions`` runtime (:mod:`marsaurora.chain.http`,
:mod:`marsaurora.chain.serve`); :mod:`marsaurora.chain.remote` posts events
to a broker (the watcher, the ingest function, a cluster batch). Tests call
the stages directly. Replies follow Knative's broker contract: 200 with
the next event (reply chaining), 204 when the chain ends, 400 for bad input
(not retried; the dead-letter sink gets the event), 5xx for transient faults
(retried with backoff).
"""

from marsaurora.chain.context import Reply, StageContext
from marsaurora.chain.run import HANDLERS, run_stage

__all__ = ["HANDLERS", "Reply", "StageContext", "run_stage"]
