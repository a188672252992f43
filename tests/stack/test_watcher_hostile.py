"""The watcher does not trust its archive: bounded listings and files, no loops, no other hosts,
no half-copied files, and a state that grows by deltas."""

import http.server
import threading
import time
import uuid

import pytest

from helpers import EventSink as Sink, serve_on_loopback
from marsaurora.config import Settings
from marsaurora.layout import BucketLayout
from marsaurora.storage import Storage
from marsaurora.watcher import sources, watch
from marsaurora.watcher.sources import HttpArchive, LocalFolder, SourceError
from marsaurora.watcher.watch import Watcher

from hostile import bounded

NAME = "emm_emu_l2b_20220301t{:06d}_0100_osr_sw1of1_r_v01-04.fits.gz"
MB = 1 << 20


class Hostile:
    """An HTTP server whose answer for each path is a function of the handler."""

    def __init__(self, routes) -> None:
        self.routes = routes
        self.requests: list[str] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                owner.requests.append(self.path)
                owner.routes.get(self.path, _not_found)(self)

            do_HEAD = do_GET  # noqa: N815

            def log_message(self, *args) -> None:
                pass

        self.server, self.url = serve_on_loopback(Handler)


def _not_found(handler) -> None:
    handler.send_response(404)
    handler.send_header("content-length", "0")
    handler.end_headers()


def _page(html: str):
    def answer(handler) -> None:
        body = html.encode()
        handler.send_response(200)
        handler.send_header("content-length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
    return answer


def _endless(handler) -> None:
    handler.send_response(200)
    handler.end_headers()
    try:
        while True:
            handler.wfile.write(b"<a href='x'>x</a>" * 4096)
    except OSError:
        pass


def _trickle(handler) -> None:
    handler.send_response(200)
    handler.send_header("content-length", "1000")
    handler.end_headers()
    try:
        for _ in range(1000):
            handler.wfile.write(b"<")
            handler.wfile.flush()
            time.sleep(0.5)
    except OSError:
        pass


def test_an_endless_listing_is_cut_at_its_byte_limit():
    server = Hostile({"/emu/": _endless})
    with bounded(seconds=60, peak_bytes=64 * MB):
        with pytest.raises(SourceError, match="byte limit"):
            list(HttpArchive(server.url + "/emu/").entries())


def test_a_trickling_listing_is_cut_at_its_deadline(monkeypatch):
    monkeypatch.setattr(sources, "LISTING_DEADLINE_S", 2.0)
    server = Hostile({"/emu/": _trickle})
    started = time.monotonic()
    with pytest.raises(SourceError, match="deadline"):
        list(HttpArchive(server.url + "/emu/").entries())
    assert time.monotonic() - started < 10


def test_links_that_fan_out_are_each_listed_once():
    fan = "".join(f"<a href='/emu/{d}/'>{d}</a>" for d in "abcd")
    routes = {"/emu/": _page(fan)}
    for folder in "abcd":
        routes[f"/emu/{folder}/"] = _page(fan + f"<a href='{NAME.format(1)}'>f</a>")
    server = Hostile(routes)
    entries = list(HttpArchive(server.url + "/emu/").entries())
    assert len(server.requests) == 5, server.requests
    assert len(entries) == 4


def test_a_redirect_to_another_host_is_refused():
    other = Hostile({"/latest/meta-data": _page('{"secret": "credentials"}')})

    def away(handler) -> None:
        handler.send_response(302)
        handler.send_header("location", other.url + "/latest/meta-data")
        handler.send_header("content-length", "0")
        handler.end_headers()

    server = Hostile({"/emu/": _page(f"<a href='{NAME.format(1)}'>f</a>"),
                      f"/emu/{NAME.format(1)}": away})
    archive = HttpArchive(server.url + "/emu/")
    (entry,) = archive.entries()
    with pytest.raises(SourceError, match="another host"):
        archive.fetch(entry, 1 << 20)
    assert other.requests == []


@pytest.fixture()
def bucket(s3_server) -> Storage:
    storage = Storage.from_settings(Settings(s3_endpoint=s3_server,
                                             s3_bucket=f"w-{uuid.uuid4().hex[:10]}"),
                                    credentials=("k", "s"))
    storage.ensure_bucket()
    return storage


def test_a_file_still_being_copied_waits_and_a_replaced_file_is_announced_again(tmp_path,
                                                                                bucket):
    root = tmp_path / "archive"
    root.mkdir()
    growing = root / NAME.format(1)
    growing.write_bytes(b"half")
    sink = Sink()
    watcher = Watcher(LocalFolder(root), bucket, BucketLayout(bucket=bucket.bucket), sink.url,
                      max_bytes=1 << 20, settle_s=0.5)
    writer = threading.Timer(0.2, lambda: growing.write_bytes(b"half and the rest"))
    writer.start()
    first = watcher.poll()
    writer.join()
    assert first.announced == [] and first.waiting == [growing.name]
    second = watcher.poll()
    assert second.announced == [growing.name]
    assert watcher.poll().announced == []
    growing.write_bytes(b"a newer version of the product")
    assert watcher.poll().announced == [growing.name]
    stored, _ = bucket.get(f"observations/{growing.name}")
    assert stored == b"a newer version of the product"
    assert sink.subjects == [growing.name, growing.name]


def test_the_state_grows_by_deltas_and_folds_them(tmp_path, bucket, monkeypatch):
    monkeypatch.setattr(watch, "FLUSH_FILES", 2)
    monkeypatch.setattr(watch, "MAX_DELTAS", 3)
    root = tmp_path / "archive"
    root.mkdir()
    for index in range(11):
        (root / NAME.format(index)).write_bytes(f"observation {index}".encode())
    sink = Sink()
    layout = BucketLayout(bucket=bucket.bucket)
    watcher = Watcher(LocalFolder(root), bucket, layout, sink.url, max_bytes=1 << 20,
                      settle_s=0.0)
    assert len(watcher.poll().announced) == 11
    deltas = bucket.keys(watcher.delta_prefix)
    assert bucket.exists(watcher.state_key) and 0 < len(deltas) <= 3
    again = Watcher(LocalFolder(root), bucket, layout, sink.url, max_bytes=1 << 20, settle_s=0.0)
    assert len(again.seen) == 11 and again.poll().announced == []
