"""Stream chosen binary tables out of a FITS file, plain or gzip, without astropy.

Why: an L2B file inflates to many megabytes in seven HDUs, of which the
pipeline needs three tables and eight columns. Opening it with astropy
builds header and table objects for all of them and holds the whole
inflated file; this reader passes over the bytes once, keeps only the
wanted tables and views their columns in place. A single-member gzip file
is inflated in one call by libdeflate (the ``deflate`` wheel, the fastest
here); anything else, damage included, is streamed through zlib-ng when it
is installed (faster than zlib) and the standard library otherwise, which
also words the errors. The figures are in docs/performance.md.

It reads exactly what L2B tables are made of: ``BINTABLE`` extensions with
fixed-width columns of types B, I, J, K, E, D and A, with optional
``TDIM`` and ``TUNIT``. Anything else it meets on the way to a wanted
column (scaled or variable-length columns, odd headers, truncation, sizes
over the limits) raises :class:`Unsupported`, and the caller falls back to
astropy, which either reads the file or says what is wrong with it.

Header numbers are checked before anything uses them, against the FITS
standard's own ranges (``BITPIX`` one of six values, ``NAXIS`` and
``TFIELDS`` at most 999, a binary table with ``NAXIS = 2``, ``BITPIX = 8``
and ``GCOUNT = 1``, no negative count). A header outside them is
:class:`Malformed`: the file is refused outright, never handed to astropy,
which would trust the numbers (a ``TFIELDS`` of 10**9 costs it about 70 GB).
:func:`check_headers` applies the same checks to every HDU of a file before
astropy opens it. Every loop over the bytes advances, whatever the headers
claim.
"""

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

try:
    import deflate
except ImportError:  # the wheel is missing on some platforms; the streaming inflate reads all
    deflate = None

try:
    from zlib_ng import zlib_ng as zlib
except ImportError:  # the wheel is missing on some platforms; stdlib zlib is the same format
    import zlib  # type: ignore[no-redef]

BLOCK_BYTES = 2880
GZIP_MAGIC = b"\x1f\x8b"
_GZIP_FRAME_BYTES = 18
"""A gzip member's 10-byte header and 8-byte trailer (CRC-32, size): no member is shorter."""
CARD_BYTES = 80
MAX_HEADER_BYTES = 1 << 20
"""A header longer than this is left to astropy (L2B headers are a few blocks)."""
_PIECE_BYTES = 256 << 10
"""Compressed bytes read from the file at a time."""
_STEP_BYTES = 4 << 20
"""Most inflated bytes one step produces (a gzip bomb is refused after one step)."""
_DTYPES = {"B": "u1", "I": ">i2", "J": ">i4", "K": ">i8", "E": ">f4", "D": ">f8"}
_WIDTHS = {"L": 1, "B": 1, "I": 2, "J": 4, "K": 8, "A": 1, "E": 4, "D": 8, "C": 8, "M": 16,
           "P": 8, "Q": 16}
_TFORM = re.compile(r"^\s*(\d*)\s*([A-Z])")
BITPIX_VALUES = frozenset({8, 16, 32, 64, -32, -64})
MAX_AXES = 999
MAX_FIELDS = 999
"""The FITS standard's limits on ``NAXIS`` and ``TFIELDS``."""
MAX_GZIP_MEMBERS = 4096
"""More gzip members than this is a file built to be slow to inflate, not an L2B file."""
_TDIM = re.compile(r"^\s*\(\s*(\d+(?:\s*,\s*\d+)*)\s*\)\s*$")


class Unsupported(Exception):
    """The file needs a general FITS reader (or is damaged); the message says why."""


class Malformed(Exception):
    """A header number that no valid FITS file holds; the file is refused, not read elsewhere.

    ``code`` is ``corrupt`` or ``too_large`` (:data:`marsaurora.errors.ERROR_CODES`).
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class GzipDamage(Unsupported):
    """The gzip stream itself is bad; ``code`` says how: ``corrupt``, ``too_large`` or
    ``truncated`` (the :data:`marsaurora.errors.ERROR_CODES` of the same name)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Column:
    """Where one column lives in a table row, and what it holds."""

    name: str
    dtype: np.dtype | None
    """Big-endian element type; None when this reader cannot present the column."""
    shape: tuple[int, ...]
    """Per-row shape in numpy order (``TDIM`` reversed)."""
    offset: int
    unit: str
    why_unsupported: str = ""


@dataclass(frozen=True)
class Table:
    """One binary table: its columns by upper-case name, and its row bytes."""

    name: str
    rows: int
    row_bytes: int
    columns: dict[str, Column]
    data: bytes

    def column_names(self) -> set[str]:
        """Upper-case column names."""
        return set(self.columns)

    def unit(self, name: str) -> str:
        """``TUNIT`` of a column, '' when absent."""
        return self.columns[name].unit

    def column(self, name: str) -> np.ndarray:
        """``(rows, *shape)`` view of a column, in the file's byte order."""
        column = self.columns[name]
        if column.dtype is None:
            raise Unsupported(f"{self.name}.{name}: {column.why_unsupported}")
        strides = [column.dtype.itemsize]
        for size in reversed(column.shape[1:]):
            strides.insert(0, strides[0] * size)
        return np.ndarray((self.rows,) + column.shape, dtype=column.dtype, buffer=self.data,
                          offset=column.offset,
                          strides=(self.row_bytes,) + tuple(strides[:len(column.shape)]))


def read_tables(source: Path | bytes, required: set[str], optional: set[str], *,
                compressed: bool, max_bytes: int, max_table_bytes: int,
                max_hdus: int) -> dict[str, Table]:
    """The required and optional binary tables (by upper-case ``EXTNAME``) of a FITS file,
    given as a path or as its bytes.

    The whole file is always passed over, so a damaged gzip stream is
    noticed even after the last wanted table.

    Raises
    ------
    Unsupported
        When a required table is missing, a limit is exceeded, or anything
        about the file is outside what this reader handles.
    """
    wanted = required | optional
    chunks = inflated(source, max_bytes) if compressed else _pieces(source, 1 << 20)
    stream = _Stream(chunks)
    found: dict[str, Table] = {}
    for index in range(max_hdus):
        header = _read_header(stream, first=index == 0)
        if header is None:
            break
        data_bytes = checked_data_bytes(header, index)
        name = _string(header.get("EXTNAME", "''")).upper()
        if name in wanted and name not in found:
            if data_bytes > max_table_bytes:
                shape = " x ".join(str(_integer(header, f"NAXIS{i}"))
                                   for i in range(1, _integer(header, "NAXIS") + 1))
                raise Malformed("too_large", f"extension {name} claims {data_bytes} bytes "
                                f"({shape}), above the {max_table_bytes}-byte limit "
                                "(AURORA_MAX_HDU_BYTES); refused before reading")
            found[name] = _table(name, header, stream)
            stream.skip(_padded(data_bytes) - found[name].rows * found[name].row_bytes)
        else:
            stream.skip(_padded(data_bytes))
        if len(found) == len(wanted) or stream.at_end():
            break
    stream.drain()
    if not required <= set(found):
        raise Unsupported(f"missing {sorted(required - set(found))} within {max_hdus} HDUs")
    return found


def check_headers(source: Path | bytes | bytearray, *, compressed: bool, max_bytes: int,
                  max_hdus: int) -> None:
    """Check the numbers of every header in a file (up to ``max_hdus``), reading no data.

    Raises
    ------
    Malformed
        On the first header number no valid FITS file holds.
    Unsupported
        When the file cannot be walked at all (the caller's reader will say why).
    """
    chunks = inflated(source, max_bytes) if compressed else _pieces(source, 1 << 20)
    stream = _Stream(chunks)
    for index in range(max_hdus):
        header = _read_header(stream, first=index == 0)
        if header is None:
            return
        stream.skip(_padded(checked_data_bytes(header, index)))
        if stream.at_end():
            return


def checked_data_bytes(header: dict[str, str], index: int) -> int:
    """Bytes of data an HDU's header announces, after checking every number it uses.

    Raises
    ------
    Malformed
        When ``BITPIX``, ``NAXIS``, an axis, ``PCOUNT``, ``GCOUNT`` or
        ``TFIELDS`` is outside what the FITS standard allows, or a binary
        table is not laid out as one.
    """
    where = f"HDU {index}"
    try:
        if "EXTNAME" in header:
            where += f" ({_string(header['EXTNAME'])[:40]})"
        bitpix = _integer(header, "BITPIX")
        axes = _integer(header, "NAXIS")
        sizes = [_integer(header, f"NAXIS{i}") for i in range(1, min(axes, MAX_AXES) + 1)]
        pcount, gcount = _integer(header, "PCOUNT", 0), _integer(header, "GCOUNT", 1)
        table = "XTENSION" in header and _string(header["XTENSION"]) == "BINTABLE"
        tfields = _integer(header, "TFIELDS", 0) if table else 0
    except Unsupported as exc:
        raise Malformed("corrupt", f"{where}: {exc}") from None
    if bitpix not in BITPIX_VALUES:
        raise Malformed("corrupt", f"{where}: BITPIX = {bitpix} is not one of "
                        f"{sorted(BITPIX_VALUES)}")
    if axes > MAX_AXES:
        raise Malformed("corrupt", f"{where}: NAXIS = {axes} is above {MAX_AXES}")
    if gcount < 1:
        raise Malformed("corrupt", f"{where}: GCOUNT = {gcount} is below 1")
    if table:
        if axes != 2 or bitpix != 8 or gcount != 1:
            raise Malformed("corrupt", f"{where}: a binary table needs NAXIS = 2, BITPIX = 8 "
                            f"and GCOUNT = 1, not {axes}, {bitpix} and {gcount}")
        if tfields > MAX_FIELDS:
            raise Malformed("corrupt", f"{where}: TFIELDS = {tfields} is above {MAX_FIELDS}")
    elements = math.prod(sizes) if axes else 0
    return abs(bitpix) // 8 * gcount * (pcount + elements)


def _table(name: str, header: dict[str, str], stream: "_Stream") -> Table:
    if _string(header.get("XTENSION", "''")) != "BINTABLE":
        raise Unsupported(f"{name} is not a binary table")
    row_bytes, rows = _integer(header, "NAXIS1"), _integer(header, "NAXIS2")
    columns: dict[str, Column] = {}
    offset = 0
    for number in range(1, _integer(header, "TFIELDS") + 1):
        column, width = _column(header, number, offset)
        columns.setdefault(column.name.upper(), column)
        offset += width
    if offset != row_bytes:
        raise Unsupported(f"{name}: columns add up to {offset} bytes, NAXIS1 says {row_bytes}")
    return Table(name=name, rows=rows, row_bytes=row_bytes, columns=columns,
                 data=stream.read(rows * row_bytes))


def _column(header: dict[str, str], number: int, offset: int) -> tuple[Column, int]:
    """Column ``number`` at ``offset`` in the row, and its width in bytes."""
    name = _string(header.get(f"TTYPE{number}", "''"))
    unit = _string(header.get(f"TUNIT{number}", "''"))
    match = _TFORM.match(_string(header.get(f"TFORM{number}", "''")).upper())
    if match is None:
        raise Unsupported(f"TFORM{number} is not understood")
    repeat, code = int(match.group(1) or 1), match.group(2)
    if code == "X":
        width = (repeat + 7) // 8
    elif code in _WIDTHS:
        width = (min(repeat, 1) if code in "PQ" else repeat) * _WIDTHS[code]
    else:
        raise Unsupported(f"TFORM{number} type {code} is not understood")
    return _layout(header, number, name, unit, repeat, code, offset), width


def _layout(header: dict[str, str], number: int, name: str, unit: str, repeat: int,
            code: str, offset: int) -> Column:
    if code not in _DTYPES and code != "A":
        return Column(name, None, (), offset, unit, f"type {code} is not read here")
    if f"TSCAL{number}" in header or f"TZERO{number}" in header:
        return Column(name, None, (), offset, unit, "scaled columns are not read here")
    dim = header.get(f"TDIM{number}")
    if code == "A":
        if dim is not None:
            return Column(name, None, (), offset, unit, "string arrays are not read here")
        return Column(name, np.dtype(f"S{repeat}"), (), offset, unit)
    shape: tuple[int, ...] = () if repeat == 1 else (repeat,)
    if dim is not None:
        match = _TDIM.match(_string(dim))
        sizes = [int(v) for v in match.group(1).split(",")] if match else []
        if not sizes or math.prod(sizes) != repeat:
            return Column(name, None, (), offset, unit, f"TDIM {dim.strip()} does not fit")
        shape = tuple(reversed(sizes))
    return Column(name, np.dtype(_DTYPES[code]), shape, offset, unit)


def _read_header(stream: "_Stream", *, first: bool) -> dict[str, str] | None:
    """Keyword -> raw value text of one header (first occurrence wins); None for the
    zero-filled blocks some writers leave after the last HDU."""
    cards: dict[str, str] = {}
    for number in range(MAX_HEADER_BYTES // BLOCK_BYTES):
        block = stream.read(BLOCK_BYTES)
        if number == 0 and not first and not block.strip(b"\0"):
            return None
        if number == 0 and block[:8] != (b"SIMPLE  " if first else b"XTENSION"):
            raise Unsupported("an HDU does not start with SIMPLE or XTENSION")
        for start in range(0, BLOCK_BYTES, CARD_BYTES):
            card = block[start:start + CARD_BYTES]
            keyword = card[:8].rstrip()
            if keyword == b"END":
                return cards
            if card[8:10] == b"= ":
                try:
                    cards.setdefault(keyword.decode("ascii"), card[10:].decode("ascii"))
                except UnicodeDecodeError:
                    raise Unsupported("a header card is not ASCII") from None
    raise Unsupported(f"a header is longer than {MAX_HEADER_BYTES} bytes")


def _padded(size: int) -> int:
    return -(-size // BLOCK_BYTES) * BLOCK_BYTES


def _integer(header: dict[str, str], keyword: str, default: int | None = None) -> int:
    raw = header.get(keyword)
    if raw is None:
        if default is None:
            raise Unsupported(f"no {keyword} keyword")
        return default
    try:
        value = int(raw.split("/", 1)[0])
    except ValueError:
        raise Unsupported(f"{keyword} = {raw.strip()!r} is not an integer") from None
    if value < 0 and keyword != "BITPIX":
        raise Unsupported(f"{keyword} is negative")
    return value


def _string(raw: str) -> str:
    """The text of a FITS string value (quotes, doubled quotes, trailing blanks handled)."""
    raw = raw.lstrip()
    if not raw.startswith("'"):
        raise Unsupported(f"{raw[:20]!r} is not a string value")
    text, position = [], 1
    while True:
        end = raw.find("'", position)
        if end < 0:
            raise Unsupported("an unterminated string value")
        text.append(raw[position:end])
        if raw[end + 1:end + 2] != "'":
            return "".join(text).rstrip()
        text.append("'")
        position = end + 2


class _Stream:
    """Sequential reads over an iterator of byte chunks."""

    def __init__(self, chunks: Iterator[bytes | bytearray | memoryview]) -> None:
        self._chunks = chunks
        self._head = memoryview(b"")

    def _next(self) -> bool:
        for chunk in self._chunks:
            if chunk:
                self._head = memoryview(chunk)
                return True
        return False

    def read(self, size: int) -> bytes:
        """Exactly ``size`` bytes."""
        return b"".join(self._take(size))

    def skip(self, size: int) -> None:
        """Pass over ``size`` bytes."""
        for _ in self._take(size):
            pass

    def _take(self, size: int) -> Iterator[memoryview]:
        if size < 0:
            raise Unsupported(f"a header announces {size} bytes")
        while size > 0:
            if not self._head and not self._next():
                raise Unsupported("the file ends before its headers say")
            part = self._head[:size]
            self._head = self._head[len(part):]
            size -= len(part)
            yield part

    def at_end(self) -> bool:
        """True when no byte is left."""
        return not self._head and not self._next()

    def drain(self) -> None:
        """Pass over the rest, so a damaged compressed stream is noticed."""
        self._head = memoryview(b"")
        for _ in self._chunks:
            pass


def _pieces(source: Path | bytes | bytearray, size: int) -> Iterator[bytes | memoryview]:
    """A file's bytes in pieces of ``size``, from disk or from memory (without copying)."""
    if not isinstance(source, Path):
        view = memoryview(source)
        for start in range(0, len(view), size):
            yield view[start:start + size]
        return
    with source.open("rb") as handle:
        while chunk := handle.read(size):
            yield chunk


def inflated(source: Path | bytes, max_bytes: int) -> Iterator[bytes | bytearray]:
    """Every gzip member of a file inflated: all at once when :func:`inflated_whole` can,
    otherwise at most :data:`_STEP_BYTES` at a time.

    Output above ``max_bytes`` is refused, so a gzip bomb costs one step;
    more than :data:`MAX_GZIP_MEMBERS` members are refused, so a file of
    millions of empty members costs a few thousand. NUL padding between or
    after members is skipped.

    Raises
    ------
    GzipDamage
        On a damaged stream, output above ``max_bytes``, or a stream that ends early.
    """
    whole = inflated_whole(source, max_bytes)
    if whole is not None:
        yield whole
        return
    produced, members = 0, 0
    decoder = None
    for piece in _pieces(source, _PIECE_BYTES):
        while piece:
            if decoder is None:
                piece = bytes(piece).lstrip(b"\0")
                if not piece:
                    break
                members += 1
                if members > MAX_GZIP_MEMBERS:
                    raise GzipDamage("corrupt", f"more than {MAX_GZIP_MEMBERS} gzip members "
                                     "(an L2B file has one)")
                decoder = zlib.decompressobj(wbits=31)
            try:
                out = decoder.decompress(piece, _STEP_BYTES)
            except zlib.error as exc:
                raise GzipDamage("corrupt", f"the gzip stream is damaged ({exc})") from None
            produced += len(out)
            if produced > max_bytes:
                raise GzipDamage("too_large", f"inflates beyond {max_bytes} bytes")
            yield out
            piece, decoder = ((decoder.unused_data, None) if decoder.eof
                              else (decoder.unconsumed_tail, decoder))
    if decoder is not None:
        out = decoder.flush()
        if len(out) + produced > max_bytes:
            raise GzipDamage("too_large", f"inflates beyond {max_bytes} bytes")
        yield out
        if not decoder.eof:
            raise GzipDamage("truncated", "the gzip stream ends early")


def inflated_whole(source: Path | bytes, max_bytes: int) -> bytearray | None:
    """A single-member gzip file inflated in one libdeflate call; None when it is not one.

    libdeflate sizes its output from the trailer at the very end of the
    input and stops after the first member, so on its own it would return
    only the first member of a multi-member file, or nothing for a file
    with NUL padding. The result is therefore kept only when its length and
    CRC-32 equal that final trailer, which holds for every single-member
    file (libdeflate has checked the member's own trailer). Everything else,
    libdeflate's errors included, returns None for the streaming inflate,
    which reads any layout and words the error.
    """
    if deflate is None:
        return None
    data = source.read_bytes() if isinstance(source, Path) else source
    if len(data) < _GZIP_FRAME_BYTES or not data.startswith(GZIP_MAGIC):
        return None
    expected_crc = int.from_bytes(data[-8:-4], "little")
    expected_size = int.from_bytes(data[-4:], "little")
    if not 0 < expected_size <= max_bytes:
        return None
    try:
        out = deflate.gzip_decompress(data, expected_size)
    except deflate.DeflateError:
        return None
    if len(out) != expected_size or deflate.crc32(out) != expected_crc:
        return None
    return out
