"""``aurora fetch``: an archive mirrored byte for byte, interrupted downloads continued (or started
again where the server refuses ranges), only what changed fetched again, filters by name."""

import http.server
import os
from datetime import date

import pytest

from helpers import serve_on_loopback
from marsaurora.cli import main
from marsaurora.watcher.mirror import STATE_FILE, Selection, mirror
from marsaurora.watcher.sources import HttpArchive

NAMES = ["emm_emu_l2b_20220301t010203_0100_osr_sw1of1_r_v01-04.fits.gz",
         "emm_emu_l2b_20220415t010203_0120_os2_sw1of3_r_v01-04.fits.gz",
         "emm_emu_l2b_20220415t030203_0120_os2_sw2of3_r_v01-05.fits.gz"]


class Archive:
    """An HTTP archive of ``emu/l2b/<mode>/`` listings that can cut downloads short and refuse
    ranges, counting the bytes it sends."""

    def __init__(self, files: dict[str, bytes], *, ranges: bool = True) -> None:
        self.files = files
        self.ranges = ranges
        self.cut_after: int | None = None
        """Close the next download after this many bytes (once)."""
        self.sent = 0
        self.range_requests: list[str] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                owner.answer(self, body=True)

            def do_HEAD(self) -> None:  # noqa: N802
                owner.answer(self, body=False)

            def log_message(self, *args) -> None:
                pass

        self.server, base = serve_on_loopback(Handler)
        self.url = f"{base}/emu/l2b/"

    def answer(self, handler, *, body: bool) -> None:
        path = handler.path.removeprefix("/emu/l2b/")
        if path == "" or path.endswith("/"):
            return self._listing(handler, path)
        data = self.files.get(path)
        if data is None:
            handler.send_response(404)
            handler.send_header("content-length", "0")
            return handler.end_headers()
        start = 0
        asked = handler.headers.get("range")
        if asked and body:
            self.range_requests.append(asked)
        if asked and self.ranges and body:
            start = int(asked.removeprefix("bytes=").rstrip("-"))
            handler.send_response(206)
            handler.send_header("content-range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            handler.send_response(200)
        handler.send_header("content-length", str(len(data) - start))
        handler.send_header("etag", f'"{hash(data) & 0xffffffff:x}"')
        handler.end_headers()
        if not body:
            return
        chunk = data[start:]
        if self.cut_after is not None:
            chunk, self.cut_after = chunk[:self.cut_after], None
            handler.close_connection = True
        handler.wfile.write(chunk)
        self.sent += len(chunk)

    def _listing(self, handler, folder: str) -> None:
        below = sorted({p[len(folder):].split("/")[0] + ("/" if "/" in p[len(folder):] else "")
                        for p in self.files if p.startswith(folder)})
        html = "".join(f"<a href='{name}'>{name}</a>" for name in below).encode()
        handler.send_response(200)
        handler.send_header("content-length", str(len(html)))
        handler.end_headers()
        handler.wfile.write(html)


def archive_files(size: int = 300_000) -> dict[str, bytes]:
    return {f"{name.split('_')[5]}/{name}": os.urandom(size) for name in NAMES}


def mirrored(folder) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*.fits.gz")}


def test_an_interrupted_download_continues_with_a_range_to_identical_bytes(tmp_path):
    files = archive_files()
    archive = Archive(files)
    archive.cut_after = 100_000
    first = mirror(HttpArchive(archive.url), tmp_path, max_bytes=1 << 30, progress=False)
    assert len(first.failed) == 1 and len(first.fetched) == 2
    assert not any(p.name.endswith(".fits.gz") and p.stat().st_size < 300_000
                   for p in tmp_path.rglob("*")), "a truncated file was moved into place"
    archive.sent = 0
    second = mirror(HttpArchive(archive.url), tmp_path, max_bytes=1 << 30, progress=False)
    assert second.fetched == list(first.failed) and not second.failed
    assert archive.range_requests == ["bytes=100000-"]
    assert archive.sent == 200_000
    assert mirrored(tmp_path) == files


def test_a_server_that_refuses_ranges_gets_the_whole_file_again(tmp_path):
    files = archive_files()
    archive = Archive(files, ranges=False)
    archive.cut_after = 100_000
    mirror(HttpArchive(archive.url), tmp_path, max_bytes=1 << 30, progress=False)
    archive.sent = 0
    second = mirror(HttpArchive(archive.url), tmp_path, max_bytes=1 << 30, progress=False)
    assert len(second.fetched) == 1 and archive.sent == 300_000
    assert mirrored(tmp_path) == files


def test_only_new_and_changed_files_are_fetched_again(tmp_path):
    files = archive_files()
    archive = Archive(files)
    mirror(HttpArchive(archive.url), tmp_path, max_bytes=1 << 30, progress=False)
    changed = sorted(files)[0]
    files[changed] = os.urandom(300_000)
    files["osr/emm_emu_l2b_20220302t010203_0101_osr_sw1of1_r_v01-04.fits.gz"] = b"x" * 1000
    archive.sent = 0
    again = mirror(HttpArchive(archive.url), tmp_path, max_bytes=1 << 30, progress=False)
    assert sorted(again.fetched) == sorted([changed, "osr/emm_emu_l2b_20220302t010203_0101_osr_"
                                                     "sw1of1_r_v01-04.fits.gz"])
    assert again.unchanged == 2 and archive.sent == 301_000
    assert mirrored(tmp_path) == files
    (tmp_path / STATE_FILE).unlink()
    archive.sent = 0
    assert mirror(HttpArchive(archive.url), tmp_path, max_bytes=1 << 30,
                  progress=False).unchanged == 4
    assert archive.sent == 0, "a lost state must not download the files again"


def test_filters_keep_modes_dates_and_versions(tmp_path):
    archive = Archive(archive_files(1000))
    result = mirror(HttpArchive(archive.url), tmp_path, max_bytes=1 << 30, progress=False,
                    selection=Selection(modes=frozenset({"os2"}), first_day=date(2022, 4, 1),
                                        versions=frozenset({"01-05"})))
    assert result.fetched == [f"os2/{NAMES[2]}"] and result.left_out == 2


def test_the_command_line_mirrors_and_says_what_it_did(tmp_path, capsys):
    archive = Archive(archive_files(1000))
    assert main(["fetch", archive.url, "--out", str(tmp_path), "--mode", "osr",
                 "--no-progress"]) == 0
    assert "1 fetched" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["fetch", archive.url, "--out", str(tmp_path), "--version", "1.4"])
