"""Opening a FITS file safely, before anything in it is trusted.

What every reader of an input does first: tell FITS from gzip by content, refuse sizes over
``AURORA_MAX_*`` before allocating, and check header numbers no valid file holds. It also
holds the astropy path (:func:`astropy_tables`), which :func:`marsaurora.emus.read_l2b`
takes for whatever the streaming reader (:mod:`marsaurora.fits_tables`) does not handle:
compressed files are inflated once in memory with a size cap (astropy's own gzip path
re-inflates the stream on every backward seek, about 4x slower, and an uncapped inflate
would let a gzip bomb exhaust memory), and astropy's many exception types become one
:class:`~marsaurora.errors.ObservationError` that says what to do.
"""

import io
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from astropy.io import fits

from marsaurora.errors import ObservationError
from marsaurora.fits_tables import GZIP_MAGIC, GzipDamage, Malformed, check_headers, inflated
from marsaurora.knobs import knob

log = logging.getLogger(__name__)

_FITS_MAGIC = b"SIMPLE  ="
_GZIP_DAMAGE = {
    "corrupt": "{name}: {detail}; re-download the file.",
    "too_large": "{name} inflates beyond {limit} bytes (AURORA_MAX_FILE_BYTES); refused.",
    "truncated": "{name}: the gzip stream ends early (truncated download?); re-download the file.",
}


@dataclass(frozen=True)
class ReadLimits:
    """Sizes refused before allocation (see ``AURORA_MAX_*``)."""

    max_file_bytes: int = knob(
        1 << 30, "Refuse input files larger than this many bytes, on disk or once inflated "
        "from gzip (a gzip bomb stops here).", minimum=1)
    max_hdu_bytes: int = knob(
        256 << 20, "Refuse a FITS extension whose header claims more data than this many "
        "bytes, before reading it.", minimum=1)
    max_hdus: int = knob(64, "Stop looking for the needed FITS extensions after this many HDUs.",
                         minimum=1)


@contextmanager
def astropy_tables(path: Path, source: Path | bytes, compressed: bool, limits: ReadLimits, *,
                   required: tuple[str, ...], optional: tuple[str, ...] = (), expected: str
                   ) -> Iterator[dict[str, "AstropyTable"]]:
    """The ``required`` and ``optional`` tables of a file opened with astropy, by extension
    name, open while the ``with`` block reads them; whatever astropy raises there, reading
    or decoding, comes out as an :class:`~marsaurora.errors.ObservationError` (``missing_hdu``
    when a required one is absent, asking whether the file is ``expected``, such as "a Level
    2B file")."""
    from astropy.io import fits  # here, not at import: stages that never read FITS stay lighter

    opened: Path | io.BufferedReader
    if compressed:
        raw = source.read_bytes() if isinstance(source, Path) else source
        inflated_file = _inflate(path.name, raw, limits.max_file_bytes)
        del raw
        _check_headers(path.name, inflated_file, limits)
        opened = _in_memory(inflated_file)
    else:
        _check_headers(path.name, source, limits)
        opened = source if isinstance(source, Path) else _in_memory(source)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with fits.open(opened, memmap=isinstance(opened, Path), lazy_load_hdus=True,
                           mode="readonly") as hdul:
                hdus = _find_hdus(path, hdul, limits, required, optional, expected)
                yield {name: AstropyTable(hdu) for name, hdu in hdus.items()}
        except ObservationError as exc:
            if exc.code == "missing_hdu" and _truncated(caught):
                raise _shorter_than_announced(
                    path, "an extension the reader needs lay past the cut") from None
            raise
        except Exception as exc:  # astropy raises many types for damaged files
            if _truncated(caught):
                raise _shorter_than_announced(path, str(exc)) from None
            raise ObservationError("corrupt", f"{path.name} cannot be decoded as FITS: "
                                   f"{_astropy_failure(exc)}") from None


def _truncated(caught: list[warnings.WarningMessage]) -> bool:
    """Whether astropy warned that the file ends before its headers say it should."""
    return any("truncated" in str(w.message) for w in caught)


def _shorter_than_announced(path: Path, detail: str) -> ObservationError:
    """A file cut short: an extension after the cut is missing, or a read failed, because of
    it (a plain FITS file cut inside an extension the reader does not need lost the ones after
    it, and read as "no EMISS extension; is it a Level 2B file?")."""
    return ObservationError("truncated", f"{path.name} is shorter than its headers announce; "
                            f"re-download it ({detail}).")


def _astropy_failure(exc: Exception) -> str:
    """What astropy's exception means, in words a user can act on."""
    if isinstance(exc, KeyError):
        return f"a header lacks the keyword {exc}, which its other keywords require."
    if isinstance(exc, OSError) and exc.errno is not None:
        return (f"a header announces a size or offset the file cannot have "
                f"({exc.strerror or exc}).")
    return f"{type(exc).__name__}: {exc}"


class AstropyTable:
    """An astropy table HDU answering the questions a :class:`fits_tables.Table` answers."""

    def __init__(self, hdu: Any) -> None:
        self.name = hdu.name
        self.rows = int(hdu.header.get("NAXIS2", 0))
        self._hdu = hdu
        self._columns = {col.name.strip().upper(): col for col in hdu.columns}

    def column_names(self) -> set[str]:
        return set(self._columns)

    def unit(self, name: str) -> str:
        return self._columns[name].unit or ""

    def column(self, name: str) -> np.ndarray:
        return self._hdu.data[self._columns[name].name]


def file_too_large(name: str, size: int, limit: int) -> ObservationError:
    """The refusal of an input above ``AURORA_MAX_FILE_BYTES``, worded alike in every mode."""
    return ObservationError("too_large", f"{name} is {size} bytes, above the {limit}-byte "
                            "limit (AURORA_MAX_FILE_BYTES).")


def is_gzip(name: str, source: Path | bytes) -> bool:
    """Tell plain FITS (False) from gzip-compressed data (True) by content, not name."""
    head = _head(source)
    if not head:
        raise ObservationError("not_fits", f"{name} is empty (0 bytes).")
    if head.startswith(_FITS_MAGIC):
        return False
    if head.startswith(GZIP_MAGIC):
        return True
    raise ObservationError("not_fits", f"{name} is neither FITS nor gzip "
                           f"(it starts with {head!r}).")


def _head(source: Path | bytes) -> bytes:
    """The first bytes of ``source``, enough to tell FITS from gzip."""
    if isinstance(source, bytes):
        return source[:len(_FITS_MAGIC)]
    with source.open("rb") as handle:
        return handle.read(len(_FITS_MAGIC))


def _check_headers(name: str, source: Path | bytes | bytearray, limits: ReadLimits) -> None:
    """Refuse a file whose header numbers no valid FITS file holds, before astropy trusts them."""
    try:
        check_headers(source, compressed=False, max_bytes=limits.max_file_bytes,
                      max_hdus=limits.max_hdus)
    except Malformed as exc:
        raise malformed(name, exc) from None
    except Exception as exc:  # noqa: BLE001 - astropy will say what else is wrong
        log.debug("header check of %s stopped: %s", name, exc)


def malformed(name: str, exc: Malformed) -> ObservationError:
    """The file's error for a header no valid FITS file holds (:class:`Malformed`)."""
    if exc.code == "too_large":
        return ObservationError("too_large", f"{name}: {exc}.")
    return ObservationError("corrupt", f"{name}: {exc}; this is not a valid FITS header, so the "
                            "file was not read further.")


class _ReadOnlyBuffer(io.RawIOBase):
    """A seekable file over bytes already in memory, without the copy ``io.BytesIO`` makes."""

    def __init__(self, data: bytes | bytearray) -> None:
        super().__init__()
        self._view = memoryview(data)
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        part = self._view[self._position:self._position + len(buffer)]
        buffer[:len(part)] = part
        self._position += len(part)
        return len(part)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: len(self._view)}
        self._position = max(0, base[whence] + offset)
        return self._position

    def tell(self) -> int:
        return self._position


def _in_memory(data: bytes | bytearray) -> io.BufferedReader:
    return io.BufferedReader(_ReadOnlyBuffer(data))


def _inflate(name: str, raw: bytes, limit_bytes: int) -> bytearray:
    """The whole inflated file, for astropy, held once; gzip damage becomes the file's error."""
    data = bytearray()
    try:
        for chunk in inflated(raw, limit_bytes):
            if not data and isinstance(chunk, bytearray):
                data = chunk
            else:
                data += chunk
    except GzipDamage as exc:
        raise ObservationError(exc.code, _GZIP_DAMAGE[exc.code].format(
            name=name, limit=limit_bytes, detail=exc)) from None
    if not data.startswith(_FITS_MAGIC):
        raise ObservationError("not_fits", f"{name} is gzip but does not hold FITS "
                               f"(it starts with {data[:9]!r}).")
    return data


def _find_hdus(path: Path, hdul: "fits.HDUList", limits: ReadLimits, required: tuple[str, ...],
               optional: tuple[str, ...], expected: str) -> dict[str, Any]:
    wanted = set(required) | set(optional)
    found: dict[str, Any] = {}
    for index in range(limits.max_hdus):
        try:
            hdu = hdul[index]
        except IndexError:
            break
        name = (hdu.name or "").strip().upper()
        if name in wanted and name not in found:
            _check_claimed_size(path, hdu, limits)
            found[name] = hdu
        if wanted <= set(found):
            return found
    else:
        if not all(name in found for name in required):
            raise ObservationError("too_large", f"{path.name}: no {', '.join(required)} "
                                   f"among its first {limits.max_hdus} HDUs "
                                   "(AURORA_MAX_HDUS).")
    missing = [name for name in required if name not in found]
    if missing:
        present = [hdu.name for hdu in hdul]
        raise ObservationError("missing_hdu", f"{path.name} has no {' or '.join(missing)} "
                               f"extension (it has {present}); is it {expected}?")
    return found


def _check_claimed_size(path: Path, hdu: Any, limits: ReadLimits) -> None:
    header = hdu.header
    naxis = int(header.get("NAXIS", 0))
    axes = [int(header.get(f"NAXIS{i}", 0)) for i in range(1, naxis + 1)]
    claimed = abs(int(header.get("BITPIX", 8))) // 8 * int(np.prod(axes, dtype=object) or 0)
    claimed = (claimed + int(header.get("PCOUNT", 0))) * int(header.get("GCOUNT", 1))
    if claimed > limits.max_hdu_bytes:
        shape = " x ".join(str(a) for a in axes)
        raise ObservationError("too_large", f"{path.name}: extension {hdu.name} claims "
                               f"{claimed} bytes ({shape}), above the {limits.max_hdu_bytes}"
                               "-byte limit (AURORA_MAX_HDU_BYTES); refused before reading.")
