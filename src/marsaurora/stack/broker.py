"""A small Knative-style broker for one machine, driven by the real Trigger manifests.

What it does, as the Knative multi-tenant broker does:

- ``POST /`` accepts a CloudEvent (binary or structured mode), commits one
  delivery per matching Trigger to the :class:`~marsaurora.stack.journal.Journal`
  and answers 202; events no Trigger wants are accepted and dropped.
- Each delivery is POSTed to its subscriber in binary mode. A 2xx reply that
  carries an event is fed back in as a new event (reply chaining).
- Connection errors, timeouts, 404, 409, 429 and 5xx are retried per the
  Trigger's ``delivery`` (retry count, linear or exponential backoff); other
  statuses, or retries exhausted, send the original event to the
  ``deadLetterSink`` with ``knativeerrorcode``, ``knativeerrordest`` and
  ``knativeerrordata`` (the reply body in base64, cut at 1024 characters as
  eventing's ``event_dispatcher.go`` cuts it, ``KnativeErrorDataExtensionMaxLength``).
- ``GET /stats`` reports counts and per-route latency; ``GET /healthz`` is 200.

Run it with ``python -m marsaurora.stack.broker`` (see ``--help``).
"""

import argparse
import base64
import json
import logging
import signal
import sys
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import requests
from cloudevents.conversion import to_json
from cloudevents.http import CloudEvent, from_json

from marsaurora import logs
from marsaurora.events import BROKER_NAME, binary, from_binary
from marsaurora.stack.journal import Delivery, Journal
from marsaurora.stack.triggers import Route, load_routes

MAX_EVENT_BYTES = 1 << 20
SOCKET_TIMEOUT_S = 10.0
"""A client silent this long is dropped."""
REQUEST_DEADLINE_S = 30.0
"""A request body not complete this long after it started is refused (slow senders)."""
MAX_CONNECTIONS = 64
"""Connections served at once; more are answered 503 straight away."""
ERROR_DATA_CHARS = 1024
"""Knative cuts the base64 reply body at 1024 characters (eventing v1.22,
pkg/kncloudevents/event_dispatcher.go, dispatchExecutionInfoTransformers); a body whose base64
is longer has been reported to crash its in-memory channel dispatcher, so our stages keep theirs
well under (marsaurora.chain.stages.MAX_FAILURE_BODY_BYTES)."""
REQUIRED_ATTRIBUTES = ("id", "source", "type", "specversion")
_RETRYABLE = {404, 408, 409, 429}
"""Besides 5xx and no answer: eventing v1.22, pkg/kncloudevents/retries.go, SelectiveRetry."""
log = logging.getLogger(__name__)


TTL_ATTRIBUTE = "knativebrokerttl"
MAX_TTL = 255
"""Knative's broker default for the hop count (``MaxTTL``)."""


class EventLooped(ValueError):
    """An event whose ``knativebrokerttl`` is spent; the broker drops it."""


def _with_attribute(event: CloudEvent, name: str, value: Any) -> CloudEvent:
    attributes = {k: v for k, v in event.get_attributes().items() if k != name}
    if value is not None:
        attributes[name] = value
    return CloudEvent(attributes, event.get_data())


def _ttl_spent_or_lowered(event: CloudEvent) -> CloudEvent:
    raw = event.get(TTL_ATTRIBUTE)
    try:
        ttl = MAX_TTL if raw is None else max(int(raw) - 1, 0)
    except (TypeError, ValueError):
        ttl = MAX_TTL
    if ttl <= 0:
        raise EventLooped(f"event {event.get('id')!r} has passed the broker {MAX_TTL} times "
                          f"({TTL_ATTRIBUTE} spent); dropped as a loop")
    return _with_attribute(event, TTL_ATTRIBUTE, str(ttl))


class Broker:
    """Routes accepted events to subscribers until they succeed or are dead-lettered."""

    def __init__(self, routes: Sequence[Route], services: dict[str, str], journal: Journal, *,
                 concurrency: int = 16, request_timeout_s: float = 120.0) -> None:
        self.routes = {route.name: route for route in routes}
        self._services = services
        for route in routes:
            self.resolve(route.subscriber)
            if route.delivery.dead_letter_sink:
                self.resolve(route.delivery.dead_letter_sink)
        self._journal = journal
        self._slots = threading.Semaphore(concurrency)
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="deliver")
        self._timeout_s = request_timeout_s
        self._local = threading.local()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._stats_lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self._latency_ms: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=100_000))
        self._thread = threading.Thread(target=self._dispatch_loop, name="dispatch", daemon=True)

    def resolve(self, subscriber: str) -> str:
        """The URL of a subscriber: a URI as is, a Service name through the service map."""
        if subscriber.startswith(("http://", "https://")):
            return subscriber
        if subscriber not in self._services:
            raise ValueError(f"no URL for Service {subscriber!r}; pass --service "
                             f"{subscriber}=http://HOST:PORT")
        return self._services[subscriber]

    def start(self) -> None:
        """Start dispatching (including deliveries left over from a previous run)."""
        self._thread.start()

    def stop(self) -> None:
        """Stop taking new deliveries and wait for those in flight."""
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout=5)
        self._pool.shutdown(wait=True)

    def accept(self, event: CloudEvent) -> int:
        """Commit one delivery per matching route; returns how many.

        As Knative's ingress (pkg/broker/ttl.go, TTLDefaulter), an event gets
        ``knativebrokerttl`` (:data:`MAX_TTL`) when it has none, one less when
        it has one; at 0 it is dropped, so replies that loop die out.

        Raises
        ------
        EventLooped
            When the event's TTL is spent.
        """
        event = _ttl_spent_or_lowered(event)
        attributes = event.get_attributes()
        payload = to_json(event).decode("utf-8")
        rows = [(route.name, route.subscriber, payload) for route in self.routes.values()
                if route.matches(attributes)]
        if rows:
            self._journal.add(rows)
            self._wake.set()
        with self._stats_lock:
            self.counts["accepted"] += 1
            self.counts["unrouted"] += not rows
        return len(rows)

    def stats(self) -> dict[str, Any]:
        """Counts, pending deliveries, and latency per route (accepted -> delivered)."""
        with self._stats_lock:
            latency = {name: _percentiles(samples) for name, samples in self._latency_ms.items()}
            counts = dict(self.counts)
        return {"counts": counts, "pending": self._journal.pending(), "latency_ms": latency}

    def _dispatch_loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            claimed = 0
            while self._slots.acquire(blocking=False):
                batch = self._journal.claim(1)
                if not batch:
                    self._slots.release()
                    break
                claimed += 1
                self._pool.submit(self._deliver, batch[0])
            if not claimed:
                due = self._journal.next_due_in()
                self._wake.wait(timeout=0.5 if due is None else min(max(due, 0.005), 0.5))

    def _deliver(self, delivery: Delivery) -> None:
        try:
            self._attempt(delivery)
        except Exception:  # noqa: BLE001 - a delivery thread must never die silently
            log.exception("delivery failed inside the broker; will retry",
                          extra={"route": delivery.route})
            self._journal.retry_later(delivery.id, 1.0)
        finally:
            self._slots.release()
            self._wake.set()

    def _attempt(self, delivery: Delivery) -> None:
        route = self.routes.get(delivery.route)
        if route is None:
            log.error("journal names unknown route %s; dropping", delivery.route)
            self._journal.drop(delivery.id)
            return
        event = from_json(delivery.event)
        url = self.resolve(delivery.target)
        status, body, reply = self._post(url, event, route.delivery.timeout_s)
        if 200 <= status < 300:
            self._succeeded(delivery, reply)
            return
        retryable = status <= 0 or status >= 500 or status in _RETRYABLE
        if retryable and delivery.attempts < route.delivery.retry:
            with self._stats_lock:
                self.counts["retries"] += 1
            self._journal.retry_later(delivery.id, route.delivery.backoff_s(delivery.attempts))
            return
        self._give_up(delivery, route, event, url, status, body)

    def _succeeded(self, delivery: Delivery, reply: CloudEvent | None) -> None:
        rows = []
        if reply is not None:
            ttl = from_json(delivery.event).get(TTL_ATTRIBUTE)
            try:
                reply = _ttl_spent_or_lowered(_with_attribute(reply, TTL_ATTRIBUTE, ttl))
            except EventLooped:
                log.warning("reply dropped: its hop count is spent (a loop?)",
                            extra={"route": delivery.route, "event_id": reply.get("id")})
                with self._stats_lock:
                    self.counts["looped"] += 1
                reply = None
        if reply is not None:
            attributes = reply.get_attributes()
            payload = to_json(reply).decode("utf-8")
            rows = [(r.name, r.subscriber, payload) for r in self.routes.values()
                    if r.matches(attributes)]
        self._journal.add(rows, done=delivery.id)
        if rows:
            self._wake.set()
        with self._stats_lock:
            kind = "dead_lettered" if delivery.dead_letter else "delivered"
            self.counts[kind] += 1
            if reply is not None:
                self.counts["replies"] += 1
            route = delivery.route + (" (dead letter)" if delivery.dead_letter else "")
            self._latency_ms[route].append((time.time() - delivery.accepted_at) * 1000.0)

    def _give_up(self, delivery: Delivery, route: Route, event: CloudEvent, url: str,
                 status: int, body: bytes) -> None:
        sink = route.delivery.dead_letter_sink
        if delivery.dead_letter or sink is None:
            self._journal.drop(delivery.id)
            with self._stats_lock:
                self.counts["lost"] += 1
            log.error("event dropped: no dead-letter sink took it",
                      extra={"route": route.name, "event_id": event.get("id"), "code": status})
            return
        attributes = dict(event.get_attributes())
        attributes["knativeerrordest"] = url
        if status <= 0:
            # Knative's dispatcher reports a delivery that got no answer as a 500 whose body
            # is "dispatch error: ..." (pkg/kncloudevents/event_dispatcher.go, executeRequest).
            status, body = 500, b"dispatch error: " + body
        attributes["knativeerrorcode"] = str(status)
        if body:
            attributes["knativeerrordata"] = base64.b64encode(body).decode(
                "ascii")[:ERROR_DATA_CHARS]
        letter = CloudEvent(attributes, event.get_data())
        self._journal.dead_letter(delivery.id, sink, to_json(letter).decode("utf-8"))
        self._wake.set()

    def _post(self, url: str, event: CloudEvent,
              timeout_s: float | None) -> tuple[int, bytes, CloudEvent | None]:
        """Status (0 when there was no answer), body, and the reply event if any.

        As Knative's dispatcher does, it asks for a reply (``Prefer: reply``),
        and a 2xx answer whose body is not an event is a success without one.
        """
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            # Subscribers are the stack's own functions on loopback, where no proxy applies;
            # reading the proxy environment on every delivery cost about 2% of the broker.
            session.trust_env = False
        headers, body = binary(_with_attribute(event, TTL_ATTRIBUTE, None))
        try:
            response = session.post(url, headers={**headers, "Prefer": "reply"}, data=body,
                                    timeout=(2.0, timeout_s or self._timeout_s))
        except requests.RequestException as exc:
            return 0, f"{type(exc).__name__}: {exc}".encode(), None
        reply = None
        if 200 <= response.status_code < 300 and response.status_code != 202 \
                and response.content:
            try:
                reply = from_binary(dict(response.headers), response.content)
            except Exception:  # noqa: BLE001 - a non-event reply body is simply not chained
                log.warning("reply from %s is not a CloudEvent; not chained", url)
        return response.status_code, response.content, reply


def _percentiles(samples: deque[float]) -> dict[str, float]:
    values = np.fromiter(samples, dtype=float)
    if not values.size:
        return {"n": 0}
    p50, p95 = np.percentile(values, [50, 95])
    return {"n": int(values.size), "p50": round(float(p50), 1), "p95": round(float(p95), 1),
            "max": round(float(values.max()), 1)}


class _Handler(BaseHTTPRequestHandler):
    broker: Broker
    timeout = SOCKET_TIMEOUT_S

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        raw_length = self.headers.get("content-length")
        if raw_length is None:
            self._answer(411, "a Content-Length header is required")
            return
        if not raw_length.strip().isdigit():
            self._answer(400, f"Content-Length {raw_length[:40]!r} is not a byte count")
            return
        length = int(raw_length)
        if length > MAX_EVENT_BYTES:
            self._answer(413, f"event body over {MAX_EVENT_BYTES} bytes; events carry "
                              "object references, not data")
            return
        body = self._body(length)
        if body is None:
            self._answer(408, f"the body did not arrive within {REQUEST_DEADLINE_S:.0f} s")
            return
        try:
            event = from_binary(dict(self.headers.items()), body)
        except Exception as exc:  # noqa: BLE001 - any parse failure is the sender's
            self._answer(400, f"not a CloudEvent: {type(exc).__name__}: {exc}")
            return
        missing = [name for name in REQUIRED_ATTRIBUTES if not event.get(name)]
        if missing:
            self._answer(400, f"CloudEvent lacks {', '.join(missing)}")
            return
        try:
            self.broker.accept(event)
        except EventLooped as exc:
            self._answer(400, str(exc))
            return
        except Exception:  # noqa: BLE001 - tell the sender to retry
            log.exception("could not commit an event")
            self._answer(503, "broker journal unavailable; retry")
            return
        self._answer(202, "")

    def _body(self, length: int) -> bytes | None:
        """Exactly ``length`` bytes of body, or None when they do not arrive in time."""
        deadline = time.monotonic() + REQUEST_DEADLINE_S
        parts, remaining = [], length
        while remaining:
            if time.monotonic() > deadline:
                return None
            part = self.rfile.read1(min(remaining, 64 << 10))
            if not part:
                return None
            parts.append(part)
            remaining -= len(part)
        return b"".join(parts)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path == "/healthz":
            self._answer(200, "ok")
        elif self.path == "/stats":
            self._answer(200, json.dumps(self.broker.stats()), "application/json")
        else:
            self._answer(404, "GET /healthz or /stats; POST / to send an event")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - inherited name
        log.debug(format, *args)

    def _answer(self, status: int, text: str, content_type: str = "text/plain") -> None:
        payload = text.encode("utf-8")
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class _BoundedServer(ThreadingHTTPServer):
    """A threading HTTP server that serves at most :data:`MAX_CONNECTIONS` at once."""

    daemon_threads = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            try:
                request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                                b"Connection: close\r\n\r\n")
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


def serve(broker: Broker, host: str, port: int) -> ThreadingHTTPServer:
    """The ingress HTTP server of ``broker`` (not yet serving: call ``serve_forever``)."""
    handler = type("BrokerHandler", (_Handler,), {"broker": broker})
    return _BoundedServer((host, port), handler)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m marsaurora.stack.broker``: run the local broker until stopped."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eventing", type=Path, required=True,
                        help="folder of Broker/Trigger manifests (the repository's eventing/)")
    parser.add_argument("--journal", type=Path, required=True, help="SQLite journal file")
    parser.add_argument("--service", action="append", default=[], metavar="NAME=URL",
                        help="where a Service named in the Triggers listens (repeatable)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8470)
    parser.add_argument("--broker-name", default=BROKER_NAME)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logs.configure(args.log_level)
    services = dict(item.split("=", 1) for item in args.service)
    broker = Broker(load_routes(args.eventing, args.broker_name), services,
                    Journal(args.journal), concurrency=args.concurrency)
    server = serve(broker, args.host, args.port)
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))
    broker.start()
    log.info("broker listening on http://%s:%d", args.host, args.port)
    try:
        server.serve_forever(poll_interval=0.2)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()
        broker.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
