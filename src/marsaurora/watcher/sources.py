"""Where new observations come from: an HTTP archive, an S3 prefix, or a local folder.

Each source lists the L2B files it holds as :class:`Entry` objects (a path
relative to the source's root, used as the key below the input prefix, so
``emu/l2b/osr/2022/03/emm_emu_l2b_...fits.gz`` keeps its place) and fetches
one file's bytes. The HTTP source walks a web server's directory listings
(the EMM Science Data Centre serves ``emu/l2b/<mode>/YYYY/MM/`` that way),
following only links below the starting URL.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urljoin, urlparse

import requests

from marsaurora.config import Settings
from marsaurora.storage import Storage

L2B_NAME = re.compile(r"^emm_emu_l2b_[^/]*\.fits(\.gz)?$", re.IGNORECASE)
MAX_LISTING_BYTES = 8 * 1024 * 1024
MAX_DEPTH = 8


class SourceError(RuntimeError):
    """The archive could not be listed or a file not fetched; the watcher retries next poll."""


@dataclass(frozen=True)
class Entry:
    """One file in a source: its path below the root, and its size when the listing tells."""

    path: str
    size: int | None = None


class Source(Protocol):
    """An archive the watcher polls."""

    description: str

    def entries(self) -> Iterator[Entry]:
        """Every L2B file the source holds now."""
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
                yield Entry(path.relative_to(self.root).as_posix(), path.stat().st_size)

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
        """Every L2B file linked from the listings below the starting URL."""
        yield from self._walk(self.url, 0)

    def fetch(self, entry: Entry, max_bytes: int) -> bytes:
        """Download one file, refusing it once it passes ``max_bytes``."""
        url = urljoin(self.url, entry.path)
        try:
            with self.session.get(url, stream=True, timeout=self.timeout_s) as response:
                response.raise_for_status()
                chunks, total = [], 0
                for chunk in response.iter_content(1 << 20):
                    total += len(chunk)
                    if total > max_bytes:
                        raise SourceError(f"{url} is above the {max_bytes}-byte limit")
                    chunks.append(chunk)
        except requests.RequestException as exc:
            raise SourceError(f"cannot download {url}: {exc}") from None
        return b"".join(chunks)

    def _walk(self, url: str, depth: int) -> Iterator[Entry]:
        if depth > MAX_DEPTH:
            return
        for link in self._links(url):
            target = urljoin(url, link)
            if not target.startswith(url) or target == url or "?" in link or "#" in link:
                continue
            if target.endswith("/"):
                yield from self._walk(target, depth + 1)
            else:
                name = unquote(urlparse(target).path.rsplit("/", 1)[-1])
                if L2B_NAME.match(name):
                    yield Entry(unquote(target[len(self.url):]))

    def _links(self, url: str) -> list[str]:
        try:
            response = self.session.get(url, timeout=self.timeout_s)
            response.raise_for_status()
        except requests.RequestException as exc:
            raise SourceError(f"cannot list {url}: {exc}") from None
        if len(response.content) > MAX_LISTING_BYTES:
            raise SourceError(f"the listing at {url} is larger than {MAX_LISTING_BYTES} bytes")
        parser = _Links()
        parser.feed(response.text)
        return parser.hrefs


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
        """L2B objects under the prefix, in key order."""
        for key in sorted(self.storage.keys(self.prefix)):
            if L2B_NAME.match(key.rsplit("/", 1)[-1]):
                yield Entry(key[len(self.prefix):].lstrip("/"))

    def fetch(self, entry: Entry, max_bytes: int) -> bytes:
        """Download one object."""
        key = f"{self.prefix.rstrip('/')}/{entry.path}" if self.prefix else entry.path
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
