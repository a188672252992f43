"""The local broker: routing, retries with backoff, dead letters, reply chaining, durability."""

import base64
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest
import requests
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent, from_http

from marsaurora.stack.broker import Broker, serve
from marsaurora.stack.journal import Journal
from marsaurora.stack.triggers import Delivery, Route

from helpers import free_port, serve_on_loopback


class Subscriber:
    """An HTTP endpoint that records events and answers from a script."""

    def __init__(self, answers=None) -> None:
        self.answers = list(answers or [])
        self.received: list[tuple[float, CloudEvent]] = []
        self.reply: CloudEvent | None = None
        self.reply_status = 200
        self.prefer: list[str | None] = []
        self.delay_s = 0.0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["content-length"]))
                owner.prefer.append(self.headers.get("Prefer"))
                owner.received.append((time.monotonic(),
                                       from_http(dict(self.headers.items()), body)))
                time.sleep(owner.delay_s)
                status, text = owner.answers.pop(0) if owner.answers else (200, "")
                headers, payload = {}, text.encode()
                if status == owner.reply_status and owner.reply is not None:
                    headers, payload = to_binary(owner.reply)
                self.send_response(status)
                for key, value in dict(headers).items():
                    self.send_header(key, value)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args) -> None:
                pass

        self.server, self.url = serve_on_loopback(Handler)

    def wait_for(self, count: int, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(self.received) >= count, f"got {len(self.received)} of {count} events"


@pytest.fixture()
def make_broker(tmp_path) -> Iterator:
    running = []

    def start(routes, services, journal_name="journal.sqlite"):
        broker = Broker(routes, services, Journal(tmp_path / journal_name))
        port = free_port()
        server = serve(broker, "127.0.0.1", port)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        broker.start()
        running.append((broker, server))
        return broker, f"http://127.0.0.1:{port}", server

    yield start
    for broker, server in running:
        server.shutdown()
        server.server_close()
        broker.stop()


def _event(event_type="t.a", subject="obs-1") -> CloudEvent:
    return CloudEvent({"type": event_type, "source": "/test", "subject": subject}, {"n": 1})


def _send(url: str, event: CloudEvent) -> requests.Response:
    headers, body = to_binary(event)
    return requests.post(url, headers=dict(headers), data=body, timeout=5)


def _route(name, event_type, subscriber, retry=3, delay=0.05, sink="dls") -> Route:
    return Route(name, {"type": event_type}, subscriber,
                 Delivery(retry=retry, backoff_delay_s=delay, dead_letter_sink=sink))


def test_retries_with_growing_waits_then_delivers_once(make_broker):
    target, dls = Subscriber([(503, "busy"), (503, "busy")]), Subscriber()
    _, url, _ = make_broker([_route("r", "t.a", "svc")], {"svc": target.url, "dls": dls.url})
    assert _send(url, _event()).status_code == 202
    target.wait_for(3)
    times = [t for t, _ in target.received]
    # Knative: delay * 2**n with n = 0 for the first retry (retries.go; go-retryablehttp Do)
    assert times[1] - times[0] >= 0.05 * 0.9 and times[2] - times[1] >= 0.1 * 0.9
    time.sleep(0.3)
    assert len(target.received) == 3 and not dls.received


def test_bad_input_goes_straight_to_the_dead_letter_sink_with_the_reason(make_broker):
    target, dls = Subscriber([(400, '{"error": "corrupt file"}')]), Subscriber()
    broker, url, _ = make_broker([_route("r", "t.a", "svc")], {"svc": target.url, "dls": dls.url})
    _send(url, _event())
    dls.wait_for(1)
    letter = dls.received[0][1]
    assert len(target.received) == 1
    assert letter["type"] == "t.a" and letter["subject"] == "obs-1"
    assert letter["knativeerrorcode"] == "400"
    assert letter["knativeerrordest"] == target.url
    assert json.loads(base64.b64decode(letter["knativeerrordata"])) == {"error": "corrupt file"}
    assert letter.get_data() == {"n": 1}


def test_exhausted_retries_dead_letter_after_retry_plus_one_attempts(make_broker):
    target, dls = Subscriber([(500, "boom")] * 10), Subscriber()
    _, url, _ = make_broker([_route("r", "t.a", "svc", retry=2)],
                            {"svc": target.url, "dls": dls.url})
    _send(url, _event())
    dls.wait_for(1)
    assert len(target.received) == 3
    assert dls.received[0][1]["knativeerrorcode"] == "500"


def test_unreachable_subscriber_is_retried_then_dead_lettered(make_broker):
    dls = Subscriber()
    _, url, _ = make_broker([_route("r", "t.a", "svc", retry=1)],
                            {"svc": f"http://127.0.0.1:{free_port()}", "dls": dls.url})
    _send(url, _event())
    dls.wait_for(1)
    letter = dls.received[0][1]
    assert letter["knativeerrorcode"] == "500", "Knative reports no answer as a 500"
    reason = base64.b64decode(letter["knativeerrordata"])
    assert reason.startswith(b"dispatch error: ") and b"ConnectionError" in reason


def test_replies_are_routed_onwards(make_broker):
    first, second = Subscriber(), Subscriber()
    first.reply = _event("t.b")
    broker, url, _ = make_broker([_route("a", "t.a", "one"), _route("b", "t.b", "two")],
                                 {"one": first.url, "two": second.url, "dls": first.url})
    _send(url, _event("t.a"))
    second.wait_for(1)
    assert second.received[0][1]["type"] == "t.b"
    deadline = time.monotonic() + 10.0
    while "b" not in broker.stats()["latency_ms"] and time.monotonic() < deadline:
        time.sleep(0.01)  # the subscriber has the event before the broker has its answer
    assert broker.stats()["latency_ms"]["b"]["n"] == 1


def test_ingress_refuses_what_is_not_an_event(make_broker):
    target = Subscriber()
    broker, url, _ = make_broker([_route("r", "t.a", "svc")],
                                 {"svc": target.url, "dls": target.url})
    assert requests.post(url, data=b"hello", timeout=5).status_code == 400
    assert requests.post(url, data=b"x" * (2 << 20), timeout=5).status_code == 413
    assert _send(url, _event("t.other")).status_code == 202
    assert broker.stats()["counts"]["unrouted"] == 1


def test_accepted_events_survive_a_broker_restart(make_broker, tmp_path):
    target = Subscriber()
    down = f"http://127.0.0.1:{free_port()}"
    broker, url, server = make_broker([_route("r", "t.a", "svc", retry=5, delay=1.0)],
                                      {"svc": down, "dls": down}, "durable.sqlite")
    for n in range(3):
        _send(url, _event(subject=f"obs-{n}"))
    time.sleep(0.3)
    server.shutdown()
    server.server_close()
    broker.stop()
    make_broker([_route("r", "t.a", "svc")], {"svc": target.url, "dls": target.url},
                "durable.sqlite")
    target.wait_for(3)
    assert sorted(e["subject"] for _, e in target.received) == ["obs-0", "obs-1", "obs-2"]


def _raw_post(url: str, head: bytes, body: bytes = b"", *, wait_s: float = 5.0) -> bytes:
    """Send a hand-made request and return the start of the answer."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=wait_s) as connection:
        connection.sendall(head + b"\r\n\r\n" + body)
        return connection.recv(200)


@pytest.mark.parametrize("length, status", [(b"-1", b"400"), (b"abc", b"400"),
                                            (b"99999999999", b"413")])
def test_a_bad_content_length_gets_a_refusal_not_an_unbounded_read(make_broker, length, status):
    _, url, _ = make_broker([], {})
    answer = _raw_post(url, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: " + length,
                       b"x" * 1000)
    assert answer.split(b" ")[1] == status


def test_a_post_without_a_length_is_refused(make_broker):
    _, url, _ = make_broker([], {})
    assert _raw_post(url, b"POST / HTTP/1.1\r\nHost: x").split(b" ")[1] == b"411"


def test_slow_clients_are_bounded_in_time_and_number(make_broker, monkeypatch):
    monkeypatch.setattr("marsaurora.stack.broker.REQUEST_DEADLINE_S", 1.0)
    monkeypatch.setattr("marsaurora.stack.broker.MAX_CONNECTIONS", 4)
    _, url, _ = make_broker([], {})
    host, port = url.removeprefix("http://").split(":")
    stalled = []
    for _ in range(4):
        connection = socket.create_connection((host, int(port)), timeout=10)
        connection.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab")
        stalled.append(connection)
    time.sleep(0.3)
    refused = _raw_post(url, b"GET /healthz HTTP/1.1\r\nHost: x")
    assert refused.split(b" ")[1] == b"503", "a fifth connection is turned away at once"
    trickle = stalled[0]
    deadline = time.monotonic() + 8
    answer = b""
    while not answer and time.monotonic() < deadline:
        try:
            trickle.sendall(b"c")
        except OSError:
            break
        trickle.settimeout(0.5)
        try:
            answer = trickle.recv(200)
        except socket.timeout:
            pass
    assert answer.split(b" ")[1] == b"408", "a body trickled past the deadline is refused"
    for connection in stalled:
        connection.close()


def test_a_long_reply_body_is_cut_in_base64_at_1024_characters_as_knative_does(make_broker):
    body = "é" * 1500
    target, dls = Subscriber([(400, body)]), Subscriber()
    _, url, _ = make_broker([_route("r", "t.a", "svc")], {"svc": target.url, "dls": dls.url})
    _send(url, _event())
    dls.wait_for(1)
    data = dls.received[0][1]["knativeerrordata"]
    assert data == base64.b64encode(body.encode()).decode()[:1024]


def test_408_is_retried_and_the_subscriber_is_asked_for_a_reply(make_broker):
    target, dls = Subscriber([(408, "slow")]), Subscriber()
    _, url, _ = make_broker([_route("r", "t.a", "svc")], {"svc": target.url, "dls": dls.url})
    _send(url, _event())
    target.wait_for(2)
    assert not dls.received
    assert all(event is not None for _, event in target.received)
    assert target.prefer == ["reply", "reply"]


def test_a_202_is_never_taken_as_a_reply(make_broker):
    first, second = Subscriber([(202, "")]), Subscriber()
    first.reply = _event("t.b")
    first.reply_status = 202
    broker, url, _ = make_broker([_route("a", "t.a", "one"), _route("b", "t.b", "two")],
                                 {"one": first.url, "two": second.url, "dls": first.url})
    _send(url, _event("t.a"))
    first.wait_for(1)
    time.sleep(0.5)
    assert second.received == []


def test_delivery_timeout_bounds_one_attempt(make_broker):
    slow, dls = Subscriber(), Subscriber()
    slow.delay_s = 2.0
    route = Route("r", {"type": "t.a"}, "svc",
                  Delivery(retry=0, dead_letter_sink="dls", timeout_s=0.3))
    _, url, _ = make_broker([route], {"svc": slow.url, "dls": dls.url})
    started = time.monotonic()
    _send(url, _event())
    dls.wait_for(1)
    assert time.monotonic() - started < 1.8


def test_a_reply_loop_dies_out_at_the_hop_limit(make_broker, monkeypatch):
    monkeypatch.setattr("marsaurora.stack.broker.MAX_TTL", 4)
    echo = Subscriber([(200, "")] * 20)
    echo.reply = _event("t.a")
    broker, url, _ = make_broker([_route("r", "t.a", "svc")], {"svc": echo.url, "dls": echo.url})
    _send(url, _event("t.a"))
    deadline = time.monotonic() + 10
    while broker.stats()["counts"].get("looped", 0) < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert broker.stats()["counts"]["looped"] == 1
    assert len(echo.received) == 4, "ttl 4, 3, 2 and 1 are delivered; the reply at 0 is dropped"
    assert all("knativebrokerttl" not in e.get_attributes() for _, e in echo.received)


def test_an_empty_filter_value_matches_any_value_the_event_sets():
    route = Route("r", {"type": "t.a", "subject": ""}, "svc", Delivery())
    assert route.matches({"type": "t.a", "subject": "x.fits"})
    assert not route.matches({"type": "t.a"})
    assert not route.matches({"type": "t.b", "subject": "x.fits"})
