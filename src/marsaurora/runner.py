"""The embedded batch runner: many observations over every core, one record each.

Records are streamed to ``observations.jsonl`` in input order as workers
finish, so memory stays flat however long the batch, and a batch stopped
halfway keeps every record already written. A worker that dies (killed for
memory, a crash in native code) does not stop the batch: the files it had in
hand are run again one at a time in a fresh worker, the one that kills that
too gets an ``internal`` error record, and the batch goes on.
"""

import logging
import multiprocessing
import os
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TypeVar

import cv2
from tqdm import tqdm

from marsaurora import jsonsafe, logs
from marsaurora.pipeline import PipelineOptions, process_file
from marsaurora.record import ObservationRecord
from marsaurora.resume import RECORDS_FILE
IN_FLIGHT_PER_WORKER = 2
"""Files handed to each worker ahead of need, so none waits between files."""
INPUT_SUFFIXES = (".fits", ".fits.gz", ".fit", ".fit.gz", ".fts", ".fts.gz")
"""What a file found in a folder ends with, in any case (``.FITS.GZ`` too), to be an input."""
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunSummary:
    """Counts and rate of one batch."""

    records_path: Path
    total: int
    by_status: dict[str, int]
    elapsed_s: float
    hop_latency_ms: dict[str, dict[str, float]] | None = None
    """Event mode only: per Trigger, time from the broker accepting an event to its
    subscriber answering (``n``, ``p50``, ``p95``, ``max``)."""

    @property
    def observations_per_s(self) -> float:
        """Throughput over the whole batch, start-up included."""
        return self.total / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def describe(self) -> str:
        """One line for people."""
        if not self.total:
            return f"nothing to process -> {self.records_path}"
        counts = ", ".join(f"{n} {status}" for status, n in sorted(self.by_status.items()))
        return (f"{self.total} observations ({counts or 'none'}) in {self.elapsed_s:.1f} s, "
                f"{self.observations_per_s:.1f} obs/s -> {self.records_path}")


def discover_inputs(inputs: Iterable[str | Path]) -> list[Path]:
    """Expand folders into their FITS files (recursively, whatever the case of their
    suffix); keep files as given.

    A path that does not exist is kept, so that it gets its own error record
    instead of vanishing from the batch.
    """
    found: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*")
                                if p.name.lower().endswith(INPUT_SUFFIXES) and p.is_file()))
        else:
            found.append(path)
    return found


def resolve_workers(requested: int) -> int:
    """Worker processes to start: ``requested``, or one per core when it is 0."""
    return requested or os.cpu_count() or 1


def run_batch(paths: Sequence[Path], out_dir: Path, options: PipelineOptions, *,
              workers: int = 0, progress: bool = True, png_dir: Path | None = None,
              append: bool = False) -> RunSummary:
    """Process ``paths`` and write ``out_dir/observations.jsonl``.

    Parameters
    ----------
    workers : int
        Worker processes; 0 means one per core, 1 runs in this process.
    progress : bool
        Show a progress bar with observations/s on stderr.
    png_dir : pathlib.Path, optional
        Also write each heatmap there as PNG, and an overlay of its auroras.
    append : bool
        Add to the records file instead of starting it again (a resumed run,
        :mod:`marsaurora.resume`).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    if png_dir is not None:
        png_dir.mkdir(parents=True, exist_ok=True)
    workers = resolve_workers(workers)
    records_path = out_dir / RECORDS_FILE
    counts: Counter[str] = Counter()
    start = time.perf_counter()
    with records_path.open("a" if append else "w", encoding="utf-8") as sink, \
            tqdm(total=len(paths), unit="obs", disable=not progress, dynamic_ncols=True) as bar:
        for record in _records(paths, options, workers, png_dir):
            sink.write(jsonsafe.dumps(record.to_json()) + "\n")
            sink.flush()
            counts[record.status] += 1
            bar.update(1)
    summary = RunSummary(records_path, sum(counts.values()), dict(counts),
                         time.perf_counter() - start)
    log.info(summary.describe(), extra={"duration_ms": round(summary.elapsed_s * 1000, 1)})
    return summary


def _records(paths: Sequence[Path], options: PipelineOptions, workers: int,
             png_dir: Path | None) -> Iterator[ObservationRecord]:
    work = partial(process_file, options=_share_cores(options, workers), png_dir=png_dir)
    yield from map_in_workers(work, paths, workers, _worker_died)


def _worker_died(path: Path, reason: str) -> ObservationRecord:
    """The record of a file whose worker died twice while processing it."""
    log.error("worker died", extra={"observation": path.name, "reason": reason})
    return ObservationRecord.failed(path.name, "internal", (
        f"the worker processing {path.name} died ({reason}); the file was run again alone and "
        "its worker died again. Out of memory? Check AURORA_MAX_FILE_BYTES and the machine's "
        "memory, and report the file if it is a valid L2B file."))


Item = TypeVar("Item")
Result = TypeVar("Result")


def map_in_workers(work: Callable[[Item], Result], items: Sequence[Item], workers: int,
                   on_death: Callable[[Item, str], Result]) -> Iterator[Result]:
    """``work`` over ``items``, in input order: in this process where one worker or one item
    leaves nothing to share out, otherwise by :func:`surviving_map` with no more workers
    than items."""
    if workers <= 1 or len(items) <= 1:
        return map(work, items)
    return surviving_map(work, items, min(workers, len(items)), on_death)


def surviving_map(work: Callable[[Item], Result], items: Sequence[Item], workers: int,
                  on_death: Callable[[Item, str], Result]) -> Iterator[Result]:
    """``work`` over ``items`` in worker processes, yielded in input order as they finish.

    When a worker dies, each item then in flight that has no result yet is
    run again alone in a fresh single worker; one whose worker dies alone as
    well becomes ``on_death(item, reason)``. The pool is then restarted for
    the rest. An item leaves ``pending`` only once the pool has taken it:
    ``submit`` itself raises when a worker died while the caller held the
    last result, and that item must not be lost.
    """
    pending = deque(items)
    while pending:
        in_flight: deque[tuple[Item, Future]] = deque()
        with _executor(workers) as executor:
            _check_started(executor)
            try:
                while pending or in_flight:
                    while pending and len(in_flight) < workers * IN_FLIGHT_PER_WORKER:
                        in_flight.append((pending[0], executor.submit(work, pending[0])))
                        pending.popleft()
                    result = in_flight[0][1].result()
                    in_flight.popleft()
                    yield result
            except BrokenProcessPool:
                log.warning("a worker died; re-running the files it may have held, one at a time",
                            extra={"files": len(in_flight)})
        for item, future in in_flight:
            finished = future.done() and not future.cancelled() and future.exception() is None
            yield future.result() if finished else _alone(work, item, on_death)


class WorkersCannotStart(RuntimeError):
    """Worker processes die before they can take any work."""


def _check_started(executor: ProcessPoolExecutor) -> None:
    """Raise :class:`WorkersCannotStart` when a fresh pool's workers die on start-up.

    Workers are spawned: each imports the calling program's main module. A script that calls
    :func:`run_batch` at its top level, outside ``if __name__ == "__main__":``, makes every
    worker call it again and die, and so would every file's retry, each ending as an
    "out of memory?" record. One trivial task first tells the two apart.
    """
    try:
        executor.submit(os.getpid).result()
    except BrokenProcessPool as exc:
        raise WorkersCannotStart(
            "worker processes died as they started, before taking any file. A script that "
            "runs batches with several workers must do so under `if __name__ == "
            "\"__main__\":` (workers are spawned and import the script), and the script must "
            "be a file, not standard input; or pass workers=1 (AURORA_WORKERS=1) to run in "
            "this process.") from exc


def _alone(work: Callable[[Item], Result], item: Item,
           on_death: Callable[[Item, str], Result]) -> Result:
    with _executor(1) as executor:
        try:
            return executor.submit(work, item).result()
        except BrokenProcessPool as exc:
            return on_death(item, str(exc) or "killed")


def _share_cores(options: PipelineOptions, workers: int) -> PipelineOptions:
    """Give each worker's detector its share of the cores, unless threads were set."""
    if options.detector is None or options.detector.threads or workers <= 1:
        return options
    threads = max(1, (os.cpu_count() or 1) // workers)
    return replace(options, detector=replace(options.detector, threads=threads))


def _executor(processes: int) -> ProcessPoolExecutor:
    level = logging.getLevelName(logging.getLogger("marsaurora").getEffectiveLevel())
    return ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_worker, initargs=(level,))


def _init_worker(log_level: str) -> None:
    cv2.setNumThreads(1)
    logs.configure(log_level)
