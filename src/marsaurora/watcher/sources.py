"""Where new observations come from: an HTTP archive, an S3 prefix, or a local folder.

Each source lists the L2B files it holds as :class:`Entry` objects (a path
relative to the source's root, used as the key below the input prefix, so
``emu/l2b/osr/2022/03/emm_emu_l2b_...fits.gz`` keeps its place) and fetches
one file's bytes. The HTTP source walks a web server's directory listings
(the EMM Science Data Centre serves ``emu/l2b/<mode>/YYYY/MM/`` that way),
following only links below the starting URL.

The archive is not trusted: every listing and every file is read within a
byte limit and a wall-clock deadline (a server that trickles a byte every
few seconds is cut off, not waited on), each listing is read once per walk
(links that fan out back into visited folders cost nothing), a walk reads at
most :data:`MAX_LISTINGS` listings, and redirects are followed only within
the archive's own host, so a listed file cannot send the watcher to another
host (a cloud metadata address, say) and copy the answer into the bucket.
"""

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urljoin, urlparse

import requests
import urllib3

from marsaurora.config import Settings
from marsaurora.storage import Storage

L2B_NAME = re.compile(r"^emm_emu_l2b_[^/]*\.fits(\.gz)?$", re.IGNORECASE)
MAX_LISTING_BYTES = 8 * 1024 * 1024
MAX_DEPTH = 8
MAX_LISTINGS = 20_000
MAX_REDIRECTS = 5
LISTING_DEADLINE_S = 60.0
FILE_DEADLINE_S = 600.0
"""Most seconds one listing, or one file, may take from request to last byte."""


class SourceError(RuntimeError):
    """The archive could not be listed or a file not fetched; the watcher retries next poll."""


@dataclass(frozen=True)
class Entry:
    """One file in a source: its path below the root, and what the source says of it now."""

    path: str
    size: int | None = None
    tag: str = ""
    """Whatever changes when the content does: an ETag, or a modification time."""


class Source(Protocol):
    """An archive the watcher polls."""

    description: str

    def entries(self) -> Iterator[Entry]:
        """Every L2B file the source holds now."""
        ...

    def describe(self, entry: Entry) -> Entry:
        """``entry`` with its current size and tag, asked of the source now."""
        ...

    def fetch(self, entry: Entry, max_bytes: int) -> bytes:
        """One file's bytes; refuse (``SourceError``) above ``max_bytes``."""
        ...


class LocalFolder:
    """A folder on disk, searched recursively."""

    def __init__(self, root: Path) -> None:
        if not root.is_dir():
            raise SourceError(f"{root} is not a folder")
        self.root = root
        self.description = str(root)

    def entries(self) -> Iterator[Entry]:
        """L2B files below the folder, in name order."""
        for path in sorted(self.root.rglob("*")):
            if path.is_file() and L2B_NAME.match(path.name):
                yield self.describe(Entry(path.relative_to(self.root).as_posix()))

    def describe(self, entry: Entry) -> Entry:
        """Size and modification time from the file system."""
        try:
            status = (self.root / entry.path).stat()
        except OSError as exc:
            raise SourceError(f"cannot look at {self.root / entry.path}: {exc}") from None
        return replace(entry, size=status.st_size, tag=str(status.st_mtime_ns))

    def fetch(self, entry: Entry, max_bytes: int) -> bytes:
        """Read one file."""
        path = self.root / entry.path
        size = path.stat().st_size
        if size > max_bytes:
            raise SourceError(f"{path} is {size} bytes, above the {max_bytes}-byte limit")
        return path.read_bytes()


class HttpArchive:
    """A web server's directory listings, walked from ``url`` downwards."""

    def __init__(self, url: str, *, timeout_s: float = 30.0) -> None:
        self.url = url if url.endswith("/") else url + "/"
        self.description = self.url
        self.timeout_s = timeout_s
        self.session = requests.Session()

    def entries(self) -> Iterator[Entry]:
        """Every L2B file linked from the listings below the starting URL, each listing once."""
        visited: set[str] = set()
        yield from self._walk(self.url, 0, visited)

    def describe(self, entry: Entry) -> Entry:
        """Size and ETag (or Last-Modified) from a HEAD request."""
        url = urljoin(self.url, entry.path)
        try:
            response = self.session.head(url, timeout=self.timeout_s, allow_redirects=False)
        except requests.RequestException as exc:
            raise SourceError(f"cannot look at {url}: {exc}") from None
        if response.status_code >= 300:
            return entry
        length = response.headers.get("content-length", "")
        return replace(entry, size=int(length) if length.isdigit() else None,
                       tag=response.headers.get("etag") or response.headers.get(
                           "last-modified", ""))

    def fetch(self, entry: Entry, max_bytes: int) -> bytes:
        """Download one file, refusing it past ``max_bytes`` or :data:`FILE_DEADLINE_S`."""
        return self._get(urljoin(self.url, entry.path), max_bytes, FILE_DEADLINE_S, "download")

    def _walk(self, url: str, depth: int, visited: set[str]) -> Iterator[Entry]:
        if depth > MAX_DEPTH or url in visited:
            return
        if len(visited) >= MAX_LISTINGS:
            raise SourceError(f"more than {MAX_LISTINGS} listings below {self.url}; refusing to "
                              "walk further (a listing loop?)")
        visited.add(url)
        for link in self._links(url):
            target = urljoin(url, link)
            if not target.startswith(url) or target == url or "?" in link or "#" in link:
                continue
            if target.endswith("/"):
                yield from self._walk(target, depth + 1, visited)
            else:
                name = unquote(urlparse(target).path.rsplit("/", 1)[-1])
                if L2B_NAME.match(name):
                    yield Entry(unquote(target[len(self.url):]))

    def _links(self, url: str) -> list[str]:
        body = self._get(url, MAX_LISTING_BYTES, LISTING_DEADLINE_S, "list")
        parser = _Links()
        parser.feed(body.decode("utf-8", errors="replace"))
        return parser.hrefs

    def download(self, entry: Entry, partial: Path, max_bytes: int) -> int:
        """Continue (or start) downloading one file into ``partial``; its complete size.

        A ``partial`` left by an interrupted download is continued with an
        HTTP Range request (``If-Range`` the entry's tag, so a file replaced
        meanwhile comes whole); a server that ignores or refuses the range
        sends the whole file, which starts ``partial`` again. Bounded like
        :meth:`fetch`.

        Raises
        ------
        SourceError
            When the file cannot be fetched, or arrives shorter than declared
            (``partial`` is kept, so the next try continues it).
        """
        url = urljoin(self.url, entry.path)
        have = partial.stat().st_size if partial.is_file() else 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        if have and entry.tag:
            headers["If-Range"] = entry.tag
        deadline = time.monotonic() + FILE_DEADLINE_S
        response, url = self._follow(url, "download", headers)
        try:
            if response.status_code == 416:
                partial.unlink()
                response.close()
                return self.download(entry, partial, max_bytes)
            resumed = response.status_code == 206
            start = _range_start(response) if resumed else 0
            if resumed and start != have:
                raise SourceError(f"{url} answered a range from byte {start}, not {have}")
            expected = _complete_size(response, start)
            with partial.open("ab" if resumed else "wb") as sink:
                for chunk in _bounded_chunks(response, url, max_bytes - start, deadline,
                                             "download"):
                    sink.write(chunk)
        finally:
            response.close()
        size = partial.stat().st_size
        if expected is not None and size != expected:
            raise SourceError(f"{url} ended at byte {size} of {expected}; the next try "
                              "continues it")
        return size

    def _get(self, url: str, max_bytes: int, deadline_s: float, verb: str) -> bytes:
        """The body at ``url``, within ``max_bytes`` and ``deadline_s``, same-host redirects only.

        The deadline holds however slowly the server sends: the body is read
        in whatever pieces arrive (a read returns as soon as any byte does)
        and the clock is checked after each; a server silent for the socket
        timeout ends the read too.
        """
        deadline = time.monotonic() + deadline_s
        response, url = self._follow(url, verb)
        try:
            return b"".join(_bounded_chunks(response, url, max_bytes, deadline, verb))
        finally:
            response.close()

    def _follow(self, url: str, verb: str,
                headers: dict[str, str] | None = None) -> tuple[requests.Response, str]:
        """The response at ``url`` after same-host redirects, and its final URL."""
        for _ in range(MAX_REDIRECTS + 1):
            response = self._open(url, verb, headers)
            if not response.is_redirect:
                return response, url
            target = urljoin(url, response.headers.get("location", ""))
            response.close()
            if urlparse(target)[:2] != urlparse(self.url)[:2]:
                raise SourceError(f"{url} redirects to another host ({target}); refused "
                                  "(only the archive's own host is followed)")
            url = target
        raise SourceError(f"cannot {verb} {url}: more than {MAX_REDIRECTS} redirects")

    def _open(self, url: str, verb: str,
              headers: dict[str, str] | None = None) -> requests.Response:
        try:
            response = self.session.get(url, stream=True, timeout=self.timeout_s,
                                        allow_redirects=False, headers=headers)
        except requests.RequestException as exc:
            raise SourceError(f"cannot {verb} {url}: {exc}") from None
        if not response.is_redirect and response.status_code >= 400 \
                and response.status_code != 416:
            response.close()
            raise SourceError(f"cannot {verb} {url}: HTTP {response.status_code}")
        return response


def _range_start(response: requests.Response) -> int:
    """The first byte of a 206 answer (``Content-Range: bytes START-END/TOTAL``)."""
    match = re.match(r"bytes (\d+)-", response.headers.get("content-range", ""))
    if match is None:
        raise SourceError(f"{response.url}: a partial answer without a usable Content-Range")
    return int(match.group(1))


def _complete_size(response: requests.Response, start: int) -> int | None:
    """The whole file's size, as the answer declares it (None when it does not)."""
    total = re.search(r"/(\d+)$", response.headers.get("content-range", ""))
    if response.status_code == 206 and total:
        return int(total.group(1))
    length = response.headers.get("content-length", "")
    return start + int(length) if length.isdigit() else None


def _bounded_chunks(response: requests.Response, url: str, max_bytes: int, deadline: float,
                    verb: str) -> Iterator[bytes]:
    """The body in the pieces that arrive, refused past ``max_bytes`` or ``deadline``."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise SourceError(f"{url} is {declared} bytes, above the {max_bytes}-byte limit")
    total = 0
    try:
        while chunk := response.raw.read1(64 << 10, decode_content=True):
            total += len(chunk)
            if total > max_bytes:
                raise SourceError(f"{url} is above the {max_bytes}-byte limit")
            if time.monotonic() > deadline:
                raise SourceError(f"{url} did not arrive within its deadline")
            yield chunk
    except (requests.RequestException, OSError, urllib3.exceptions.HTTPError) as exc:
        raise SourceError(f"cannot {verb} {url}: {exc}") from None


class S3Prefix:
    """Objects under a prefix of another S3 bucket (``s3://bucket/prefix/``)."""

    def __init__(self, url: str, settings: Settings) -> None:
        parsed = urlparse(url)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise SourceError(f"{url!r} is not an s3://bucket/prefix/ URL")
        self.prefix = parsed.path.lstrip("/")
        self.storage = Storage.from_settings(replace(settings, s3_bucket=parsed.netloc))
        self.description = url

    def entries(self) -> Iterator[Entry]:
        """L2B objects under the prefix, in key order, with the size and ETag listed."""
        listed = self.storage.listing(self.prefix)
        for key in sorted(listed):
            if L2B_NAME.match(key.rsplit("/", 1)[-1]):
                size, etag = listed[key]
                yield Entry(key[len(self.prefix):].lstrip("/"), size, etag)

    def describe(self, entry: Entry) -> Entry:
        """Size and ETag from a HEAD request."""
        try:
            size, etag = self.storage.describe(self._key(entry))
        except Exception as exc:  # noqa: BLE001 - any storage fault: try again next poll
            raise SourceError(f"cannot look at {self._key(entry)}: {exc}") from None
        return replace(entry, size=size, tag=etag)

    def _key(self, entry: Entry) -> str:
        return f"{self.prefix.rstrip('/')}/{entry.path}" if self.prefix else entry.path

    def fetch(self, entry: Entry, max_bytes: int) -> bytes:
        """Download one object."""
        key = self._key(entry)
        try:
            return self.storage.get(key, max_bytes=max_bytes)[0]
        except Exception as exc:  # noqa: BLE001 - any storage fault: try again next poll
            raise SourceError(f"cannot fetch s3://{self.storage.bucket}/{key}: {exc}") from None


def open_source(location: str, settings: Settings) -> Source:
    """The source a location names: ``http(s)://...``, ``s3://bucket/prefix/`` or a folder."""
    if location.startswith(("http://", "https://")):
        return HttpArchive(location)
    if location.startswith("s3://"):
        return S3Prefix(location, settings)
    return LocalFolder(Path(location))


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.hrefs.append(href)
