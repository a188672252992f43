"""Hostile FITS files made from a good one: header cards rewritten in place, bounded runs.

Shared by the hostile-input tests and the header fuzzing: each file is built
in the test from the session's synthetic L2B file, never stored.
"""

import os
import signal
import threading
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

BLOCK = 2880
CARD = 80


@dataclass(frozen=True)
class HeaderSpan:
    """Where one HDU's header lies in the raw file, and its name."""

    start: int
    end: int
    name: str


def header_spans(raw: bytes) -> list[HeaderSpan]:
    """Every header of a well-formed FITS file, walking the sizes its headers announce."""
    spans, position = [], 0
    while position + BLOCK <= len(raw):
        cards, offset = {}, position
        while True:
            card = raw[offset:offset + CARD].decode("ascii")
            offset += CARD
            if card.startswith("END"):
                break
            if card[8:10] == "= ":
                cards.setdefault(card[:8].strip(), card[10:].split("/")[0].strip())
        end = position + -(-(offset - position) // BLOCK) * BLOCK
        axes = int(cards.get("NAXIS", 0))
        elements = 1
        for number in range(1, axes + 1):
            elements *= int(cards[f"NAXIS{number}"])
        data = (abs(int(cards["BITPIX"])) // 8 * int(cards.get("GCOUNT", 1))
                * (int(cards.get("PCOUNT", 0)) + (elements if axes else 0)))
        spans.append(HeaderSpan(position, end, cards.get("EXTNAME", "''").strip("' ")))
        position = end + -(-data // BLOCK) * BLOCK
    return spans


def with_card(raw: bytes, extension: str, keyword: str, value: str) -> bytes:
    """``raw`` with ``keyword = value`` in the header of ``extension`` (replaced, or added
    before END when absent; the header keeps its size when there is room)."""
    span = next(s for s in header_spans(raw) if s.name == extension)
    header = bytearray(raw[span.start:span.end])
    card = f"{keyword:<8}= {value:>20}".ljust(CARD).encode("ascii")[:CARD]
    for offset in range(0, len(header), CARD):
        existing = bytes(header[offset:offset + CARD])
        if existing[:8].rstrip() == keyword.encode("ascii") and existing[8:10] == b"= ":
            header[offset:offset + CARD] = card
            return raw[:span.start] + bytes(header) + raw[span.end:]
        if existing[:8].rstrip() == b"END":
            if offset + 2 * CARD > len(header):
                raise ValueError(f"no room for {keyword} in {extension}'s header")
            header[offset:offset + 2 * CARD] = card + existing
            return raw[:span.start] + bytes(header) + raw[span.end:]
    raise ValueError(f"{extension}'s header has no END card")


@contextmanager
def time_bounded(seconds: float) -> Iterator[None]:
    """Fail when the block runs longer than ``seconds``: an endless loop, or a wait for
    something that will never come, becomes a ``TimeoutError`` instead of a stalled run
    (SIGALRM, main thread only)."""
    assert threading.current_thread() is threading.main_thread()

    def expired(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextmanager
def bounded(seconds: float, peak_bytes: int) -> Iterator[None]:
    """Fail when the block runs longer than ``seconds`` or allocates more than ``peak_bytes``.

    The time bound is :func:`time_bounded`; the memory bound is what Python allocated
    (numpy included), measured by tracemalloc.
    """
    with time_bounded(seconds):
        tracemalloc.start()
        try:
            yield
            _, peak = tracemalloc.get_traced_memory()
            assert peak <= peak_bytes, f"peak allocation {peak} bytes, above {peak_bytes}"
        finally:
            tracemalloc.stop()


def shout_or_die(item: str) -> str:
    """Work for the worker-pool tests: ``poison`` kills its worker outright (SIGKILL)."""
    if item == "poison":
        os.kill(os.getpid(), signal.SIGKILL)
    return item.upper()
