"""``aurora run --via-events``: a batch through the local event-driven stack.

Each file is uploaded under the input prefix and announced with an
``observation.stored`` event, exactly as the archive watcher does on a
cluster; the chain does the rest. The runner only waits for each
observation's record in ``records/`` and writes them, in input order, to the
same ``observations.jsonl`` that the in-process runner writes.
"""

import json
import logging
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from cloudevents.http import CloudEvent
from tqdm import tqdm

from marsaurora import jsonsafe
from marsaurora.config import Settings
from marsaurora.events import OBSERVATION_STORED, new_event
from marsaurora.layout import BucketLayout
from marsaurora.pipeline import PipelineOptions, process_file
from marsaurora.record import ObservationRecord
from marsaurora.resume import RECORDS_FILE
from marsaurora.runner import RunSummary
from marsaurora.stack.local import LocalStack
from marsaurora.chain.remote import RemoteChain
from marsaurora.storage import ObjectMissing, Storage

POLL_S = 0.1
"""Wait between two reads of a record that is not there yet. Records are awaited one by one
in input order, which is about the order the chain finishes them, so a read mostly finds its
record. Listing the records instead cost CPU in proportion to the records listed, and
stretched the wait after the last record to the listing interval (docs/performance.md)."""
log = logging.getLogger(__name__)


def run_via_events(paths: Sequence[Path], out_dir: Path, settings: Settings, *,
                   progress: bool = True, timeout_s: float | None = None,
                   stack: LocalStack | RemoteChain | None = None,
                   append: bool = False) -> RunSummary:
    """Process ``paths`` through the event chain and write ``out_dir/observations.jsonl``.

    Parameters
    ----------
    timeout_s : float, optional
        Give up waiting after this long (default: 60 s plus 5 s per file);
        observations without a record by then get an ``undeliverable`` one.
    stack : LocalStack or RemoteChain, optional
        A running chain to use: a local stack, or a cluster's broker and
        bucket; by default a local stack is started in ``out_dir/.stack``
        (logs in ``logs/``) and stopped at the end.
    append : bool
        Add to the records file instead of starting it again (a resumed run).

    Raises
    ------
    ValueError
        When two inputs share a file name (the bucket keys them by name).
    """
    _refuse_duplicate_names(paths)
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    if stack is None:
        with LocalStack(out_dir / ".stack", settings) as own_stack:
            return _run(paths, out_dir, settings, own_stack, progress, timeout_s, start, append)
    return _run(paths, out_dir, settings, stack, progress, timeout_s, start, append)


def _run(paths: Sequence[Path], out_dir: Path, settings: Settings,
         stack: LocalStack | RemoteChain, progress: bool, timeout_s: float | None,
         start: float, append: bool) -> RunSummary:
    storage = stack.storage()
    layout = BucketLayout.from_settings(settings)
    options = PipelineOptions.from_settings(settings)
    local: dict[Path, ObservationRecord] = {}
    expected: dict[Path, str] = {}
    with tqdm(total=len(paths), unit="obs", desc="upload", disable=not progress) as bar:
        for path in paths:
            if not _travels(path, settings):
                local[path] = process_file(path, options)
            else:
                event = upload(path, storage, layout)
                stack.send(event)
                expected[path] = layout.input_key(path.name)
            bar.update(1)
    deadline = time.monotonic() + (timeout_s if timeout_s is not None else 60 + 5 * len(paths))
    counts: Counter[str] = Counter()
    records_path = out_dir / RECORDS_FILE
    with records_path.open("a" if append else "w", encoding="utf-8") as sink, \
            tqdm(total=len(expected), unit="obs", desc="records", disable=not progress) as bar:
        for path in paths:
            record = local.get(path)
            if record is None:
                record = _await_record(storage, layout.record_key(expected[path]), deadline)
                bar.update(1)
            if record is None:
                record = _timed_out(path, stack)
            sink.write(jsonsafe.dumps(record.to_json()) + "\n")
            sink.flush()
            counts[record.status] += 1
    summary = RunSummary(records_path, sum(counts.values()), dict(counts),
                         time.perf_counter() - start, stack.latency_ms())
    log.info(summary.describe())
    return summary


def _await_record(storage: Storage, key: str, deadline: float) -> ObservationRecord | None:
    """The record at ``key`` once it is stored; None if it is still missing at ``deadline``
    (read once even when the deadline has passed, so late batches still collect what is done).
    """
    while True:
        try:
            return ObservationRecord.from_json(json.loads(storage.get(key)[0]))
        except ObjectMissing:
            if time.monotonic() >= deadline:
                return None
            time.sleep(POLL_S)


def _travels(path: Path, settings: Settings) -> bool:
    """Whether a file can go through the bucket and the events.

    Files that cannot are processed here instead, giving the record the
    embedded runner would: a path that is not a file (``not_found``), a file
    over ``AURORA_MAX_FILE_BYTES`` (``too_large``, refused before a byte is
    read), and a name no S3 key or event subject can carry (a byte that is
    not UTF-8, a control character such as a newline).
    """
    if not path.is_file() or path.stat().st_size > settings.max_file_bytes:
        return False
    try:
        path.name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return path.name.isprintable()


def upload(path: Path, storage: Storage, layout: BucketLayout) -> CloudEvent:
    """Store one file under the input prefix; return the ``observation.stored`` event to send."""
    ref = storage.put(layout.input_key(path.name), path.read_bytes(), "application/fits")
    return new_event(OBSERVATION_STORED, "ingest", path.name,
                     {**ref.to_json(), "size": path.stat().st_size},
                     identity=f"{ref.key}|{ref.etag}")


def _timed_out(path: Path, stack: LocalStack | RemoteChain) -> ObservationRecord:
    return ObservationRecord.failed(path.name, "undeliverable",
                                    f"no record arrived before the timeout; {stack.logs_hint}")


def _refuse_duplicate_names(paths: Sequence[Path]) -> None:
    names = Counter(path.name for path in paths)
    clashes = sorted(name for name, n in names.items() if n > 1)
    if clashes:
        raise ValueError(f"{len(clashes)} file names appear more than once ({clashes[0]}, ...); "
                         "the bucket keys observations by file name, so pass each once")
