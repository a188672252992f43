"""``aurora``: the command line.

``aurora synth`` makes synthetic EMUS L2B files, ``aurora run`` runs the
pipeline over files or folders (in process, or ``--via-events`` through the
local event-driven stack or a cluster's Broker) and writes the aurora
catalogue (a rerun into the same folder processes only what changed; ``aurora
catalog`` rebuilds the catalogue, ``aurora provenance`` says what made the
records), ``aurora report`` draws a run's summary figure, ``aurora watch``
feeds new archive files to a chain, ``aurora fetch`` mirrors an archive
into a local folder, ``aurora bucket init`` creates the
bucket, ``aurora stack up`` starts the stack for other clients. Command-line
flags override the matching ``AURORA_*`` settings.
"""

import argparse
import os
import re
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

from tqdm import tqdm

from marsaurora import __version__, logs
from marsaurora.classify import SCREENS
from marsaurora.catalog import write_catalog
from marsaurora.config import ConfigError, Settings
from marsaurora.detect import ModelError
from marsaurora.events import OBSERVATION_STORED
from marsaurora.pipeline import PipelineOptions
from marsaurora.provenance import (ASPECTS, model_digest, other_software,
                                   provenance_summary, run_provenance)
from marsaurora.report import ReportError, image_set_line, make_report
from marsaurora.resume import HEATMAPS_DIR, RunFolder, RunFolderError
from marsaurora.runner import (RunSummary, WorkersCannotStart, discover_inputs, resolve_workers,
                               run_batch)
from marsaurora.stack.batch import run_via_events
from marsaurora.stack.containers import FunctionImages
from marsaurora.stack.local import LOCAL_CREDENTIALS, LocalStack, StackError
from marsaurora.chain.remote import ChainUnreachable, RemoteChain
from marsaurora.layout import BucketLayout
from marsaurora.storage import Storage, StorageUnavailable
from marsaurora.watcher.mirror import Selection, mirror
from marsaurora.watcher.sources import SourceError, open_source
from marsaurora.watcher.watch import Watcher, watch_forever
from marsaurora.synth.generate import (TRUTH_FILE, DrawingDied, SynthSpec, checked_gain,
                                       generate)
from marsaurora.synth.ranges import RANGES
from marsaurora.synth.scene import SCENARIOS


def build_parser() -> argparse.ArgumentParser:
    """The ``aurora`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="aurora", description="Detect discrete auroras in EMM/EMUS Level 2B scans of Mars.")
    parser.add_argument("--version", action="version", version=f"marsaurora {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    synth = commands.add_parser("synth", help="write synthetic EMUS L2B files with truth.jsonl")
    synth.add_argument("--n", type=_positive, default=20, help="number of files (default 20)")
    synth.add_argument("--out", type=Path, required=True, help="output folder")
    synth.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    synth.add_argument("--scenario", action="append", choices=SCENARIOS, default=[],
                       help="only this scenario (repeatable; default: the standard mix)")
    synth.add_argument("--ranges", choices=sorted(RANGES), default="train",
                       help="how widely scenes are drawn: train (the detector's training "
                            "ranges, default) or ood (outside them, to test generalization); "
                            "ood-auroras or ood-glow change only the auroras or only the night "
                            "glow under them, at the training noise")
    synth.add_argument("--gain", type=gain_range, default=None, metavar="LOW:HIGH",
                       help="counts per rayleigh to draw each scan's noise from, instead of "
                            "the ranges' own (train 1.5:8, ood 1:1.5); e.g. 50:150 for scans "
                            "far less noisy")
    synth.add_argument("--no-compress", action="store_true", help="write .fits, not .fits.gz")
    synth.add_argument("--workers", type=int, default=None,
                       help="processes (default AURORA_WORKERS; 0 = every core)")
    synth.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    run = commands.add_parser("run", help="run the pipeline over files or folders")
    run.add_argument("inputs", nargs="+", help="L2B files or folders (searched recursively)")
    run.add_argument("--out", type=Path, required=True,
                     help="output folder for observations.jsonl")
    run.add_argument("--screen", choices=SCREENS, default=None,
                     help="classify screen (default AURORA_SCREEN, physical)")
    run.add_argument("--workers", type=int, default=None,
                     help="processes (default AURORA_WORKERS; 0 = every core)")
    run.add_argument("--png", action="store_true",
                     help="also write each heatmap, and an overlay of any detections, to "
                          "OUT/heatmaps/")
    run.add_argument("--via-events", action="store_true",
                     help="go through the local event-driven stack (S3 server, functions, "
                          "broker) instead of in-process workers")
    run.add_argument("--broker", default=None,
                     help="with --via-events: the ingress URL of a running chain's Broker "
                          "(e.g. a cluster's); uploads go to the AURORA_S3_* bucket. "
                          "Default: start the local stack")
    run.add_argument("--containers", action="store_true",
                     help="with --via-events: run the functions from their images "
                          "(scripts/build-images.sh) with podman, as Knative would")
    run.add_argument("--timeout", type=float, default=None,
                     help="with --via-events: seconds to wait for all records "
                          "(default 60 + 5 per file)")
    run.add_argument("--force", action="store_true",
                     help="process every input again, even those OUT already has a current "
                          "record of")
    run.add_argument("--reprocess-if", default=None, metavar="ASPECTS",
                     help="comma-separated: which provenance differences make a record stale "
                          f"({', '.join(ASPECTS)}; default all of them)")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    catalog = commands.add_parser("catalog", help="rebuild OUT/catalog.ecsv and .csv from "
                                                  "the records (also after an interrupted run)")
    catalog.add_argument("run_dir", type=Path, help="the --out folder of an `aurora run`")

    provenance = commands.add_parser("provenance", help="how many of a run's records each "
                                                        "software, model and settings made")
    provenance.add_argument("run_dir", type=Path, help="the --out folder of an `aurora run`")

    report = commands.add_parser("report", help="draw OUT/report.png and write the review page "
                                   "OUT/report/index.html from a run's records")
    report.add_argument("run_dir", type=Path, help="the --out folder of an `aurora run`")

    commands.add_parser("bench", help="the paper-faithful path against ours "
                                      "(see `aurora bench --help`)", add_help=False)

    watch = commands.add_parser(
        "watch", help="copy new L2B files from an archive into the bucket, one "
                      "observation.stored event each")
    watch.add_argument("source", help="http(s):// directory listing (e.g. .../emu/l2b/), "
                                      "s3://bucket/prefix/, or a local folder")
    watch.add_argument("--sink", default=os.environ.get("K_SINK", ""),
                       help="where to send events (default $K_SINK, set by Knative sources)")
    watch.add_argument("--interval", type=float, default=300.0,
                       help="seconds between polls (default 300)")
    watch.add_argument("--once", action="store_true", help="poll once and exit")

    fetch = commands.add_parser(
        "fetch", help="mirror an archive into a local folder: only new or changed files, "
                      "interrupted downloads continued")
    fetch.add_argument("source", help="http(s):// directory listing, s3://bucket/prefix/, "
                                      "or a local folder")
    fetch.add_argument("--out", type=Path, required=True,
                       help="local folder (the archive's relative paths are kept)")
    fetch.add_argument("--mode", action="append", default=[],
                       help="only this observation mode, e.g. os1, os2, osr, osp (repeatable)")
    fetch.add_argument("--start", type=_utc_date, default=None,
                       help="only observations starting on or after this UTC date (YYYY-MM-DD)")
    fetch.add_argument("--end", type=_utc_date, default=None,
                       help="only observations starting on or before this UTC date")
    fetch.add_argument("--version", action="append", default=[], type=_product_version,
                       help="only this product version, VV-RR such as 01-04 (repeatable)")
    fetch.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    bucket = commands.add_parser("bucket", help="the AURORA_S3_* bucket")
    bucket_commands = bucket.add_subparsers(dest="bucket_command", required=True)
    init = bucket_commands.add_parser("init", help="create the bucket if it does not exist")
    init.add_argument("--wait", type=float, default=0.0,
                      help="keep trying this many seconds while the endpoint is unreachable")
    init.add_argument("--notify-arn", default="",
                      help="also send object-created notifications under the input prefix to "
                           "this target (MinIO: arn:minio:sqs::AURORA:webhook)")

    stack = commands.add_parser("stack", help="the local event-driven stack")
    stack_commands = stack.add_subparsers(dest="stack_command", required=True)
    up = stack_commands.add_parser("up", help="start S3, the functions and the broker; "
                                              "Ctrl-C stops them")
    up.add_argument("--state", type=Path, default=Path(".aurora-stack"),
                    help="folder for the broker journal and logs (default .aurora-stack)")
    up.add_argument("--broker-port", type=int, default=8470, help="broker port (default 8470)")
    up.add_argument("--s3-port", type=int, default=8471, help="S3 server port (default 8471)")
    up.add_argument("--containers", action="store_true",
                    help="run the functions from their images (scripts/build-images.sh) with "
                         "podman, as Knative would, instead of as processes")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``aurora`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:
        from marsaurora.bench.compare import main as bench_main

        return bench_main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"aurora: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level)
    if getattr(args, "workers", None) is not None:
        if args.workers < 0:
            print("aurora: --workers must be 0 (every core) or more", file=sys.stderr)
            return 2
        settings = replace(settings, workers=args.workers)
    if args.command == "synth":
        return _synth(args, settings)
    if args.command == "stack":
        return _stack_up(args, settings)
    if args.command == "report":
        return _report(args)
    if args.command == "catalog":
        return _catalog(args)
    if args.command == "provenance":
        return _provenance(args)
    if args.command == "bucket":
        return _bucket_init(args, settings)
    if args.command == "watch":
        return _watch(args, settings)
    if args.command == "fetch":
        return _fetch(args, settings)
    return _run(args, settings)


def _synth(args: argparse.Namespace, settings: Settings) -> int:
    spec = SynthSpec(n=args.n, seed=args.seed, scenarios=tuple(args.scenario),
                     compress=not args.no_compress, ranges=args.ranges,
                     gain_counts_per_r=args.gain)
    workers = resolve_workers(settings.workers)
    counts: dict[str, int] = {}
    try:
        with tqdm(total=spec.n, unit="file", disable=args.no_progress) as bar:
            for record in generate(spec, args.out, workers=workers):
                counts[record["scenario"]] = counts.get(record["scenario"], 0) + 1
                bar.update(1)
    except (WorkersCannotStart, DrawingDied) as exc:
        print(f"aurora: {exc}", file=sys.stderr)
        return 1
    mix = ", ".join(f"{n} {name}" for name, n in sorted(counts.items()))
    print(f"wrote {spec.n} files ({mix}) and {TRUTH_FILE} to {args.out}")
    return 0


def _run(args: argparse.Namespace, settings: Settings) -> int:
    if args.screen:
        settings = replace(settings, screen=args.screen)
    paths = discover_inputs(args.inputs)
    if not paths:
        print(f"aurora: no FITS files found in {' '.join(args.inputs)} "
              "(looked for *.fits, *.fits.gz, *.fit, *.fts)", file=sys.stderr)
        return 2
    if (args.broker or args.containers) and not args.via_events:
        print("aurora: --broker and --containers go with --via-events", file=sys.stderr)
        return 2
    if args.broker and args.containers:
        print("aurora: --containers starts a local stack; a --broker chain has its own",
              file=sys.stderr)
        return 2
    if args.out.exists() and not args.out.is_dir():
        print(f"aurora: --out {args.out} is a file; give a folder (it is created if missing)",
              file=sys.stderr)
        return 2
    if args.via_events and args.png:
        print("aurora: --png is for in-process runs; with --via-events the heatmaps are "
              "in the bucket under heatmaps/", file=sys.stderr)
        return 2
    options = PipelineOptions.from_settings(settings)
    try:
        current = _current_provenance(options, remote=bool(args.broker))
        folder = RunFolder(args.out)
        plan = folder.plan(paths, current, force=args.force,
                           reprocess_if=_aspects(args.reprocess_if))
    except (ModelError, RunFolderError, ValueError) as exc:
        print(f"aurora: {exc}", file=sys.stderr)
        return 2
    print(f"{args.out}: {plan.describe()}", file=sys.stderr)
    if not plan.todo:
        summary = RunSummary(folder.records_path, 0, {}, 0.0)
    elif args.via_events:
        try:
            with _chain(args, settings) as chain:
                summary = run_via_events(plan.todo, args.out, settings,
                                         progress=not args.no_progress, timeout_s=args.timeout,
                                         stack=chain, append=True)
        except (ValueError, StackError, ChainUnreachable, StorageUnavailable) as exc:
            print(f"aurora: {exc}", file=sys.stderr)
            return 1
    else:
        try:
            summary = run_batch(plan.todo, args.out, options, workers=settings.workers,
                                progress=not args.no_progress, append=True,
                                png_dir=args.out / HEATMAPS_DIR if args.png else None)
        except WorkersCannotStart as exc:
            print(f"aurora: {exc}", file=sys.stderr)
            return 1
    folder.consolidate()
    folder.remember(plan.todo)
    if args.containers:
        _say_if_the_images_are_other_code(folder, plan.todo, current["software"])
    _finish(summary, args.out)
    for route, latency in sorted((summary.hop_latency_ms or {}).items()):
        if latency.get("n"):
            print(f"  {route}: {latency['n']} events, accepted -> answered p50 "
                  f"{latency['p50']} ms, p95 {latency['p95']} ms")
    return 0


def _say_if_the_images_are_other_code(folder: RunFolder, todo: Sequence[Path],
                                      software: str) -> None:
    """Warn when the function images made records with other code than this install's."""
    others = other_software(folder.records(), {path.name for path in todo}, software)
    if others:
        print(f"aurora: {sum(others.values())} records were made by images built from other "
              f"code ({', '.join(sorted(others))}) than this install ({software}); rebuild "
              "them with scripts/build-images.sh, or the next run processes these files again",
              file=sys.stderr)


def _current_provenance(options: PipelineOptions, *, remote: bool) -> dict[str, Any]:
    """This run's provenance. When a cluster runs the functions, its images' code and weights
    made the records, not this install's: neither can tell whether they are stale."""
    current = run_provenance(options)
    if remote:
        current["software"] = None
    elif options.detector is not None:
        current["model_sha256"] = model_digest(options.detector)
    return current


def _aspects(requested: str | None) -> tuple[str, ...]:
    """The provenance aspects that make a record stale (``--reprocess-if``)."""
    return tuple(a.strip() for a in requested.split(",")) if requested else ASPECTS


def _catalog(args: argparse.Namespace) -> int:
    folder = RunFolder(args.run_dir)
    if not folder.records_path.is_file():
        print(f"aurora: {folder.records_path} does not exist; run `aurora run ... --out "
              f"{args.run_dir}` first", file=sys.stderr)
        return 2
    try:
        moved = folder.consolidate()
    except RunFolderError as exc:
        print(f"aurora: {exc}", file=sys.stderr)
        return 2
    written = write_catalog(folder.records_path, args.run_dir)
    print(f"catalogue: {', '.join(map(str, written))}" + (
        f"; {moved} superseded records moved to {folder.superseded_path}" if moved else ""))
    return 0


def _provenance(args: argparse.Namespace) -> int:
    folder = RunFolder(args.run_dir)
    try:
        folder.repair()
        summary = provenance_summary(folder.records())
    except RunFolderError as exc:
        print(f"aurora: {exc}", file=sys.stderr)
        return 2
    print(f"{summary['software'].total()} records in {folder.records_path}")
    for aspect, counts in summary.items():
        print(f"{aspect}:")
        for value, n in counts.most_common():
            print(f"  {n:8d}  {value}")
    return 0


def _finish(summary: RunSummary, out_dir: Path) -> None:
    """Print the run's summary and write its catalogue next to the records."""
    print(summary.describe())
    written = write_catalog(summary.records_path, out_dir)
    print(f"catalogue: {', '.join(map(str, written))}; `aurora report {out_dir}` writes a "
          "summary figure and a review page")


def _watch(args: argparse.Namespace, settings: Settings) -> int:
    if not args.sink:
        print("aurora: no sink: pass --sink URL (a Broker ingress) or run under a Knative "
              "source that sets K_SINK", file=sys.stderr)
        return 2
    try:
        watcher = Watcher(open_source(args.source, settings), Storage.from_settings(settings),
                          BucketLayout.from_settings(settings), args.sink,
                          max_bytes=settings.max_file_bytes)
        if args.once:
            result = watcher.poll()
            print(f"{result.listed} listed, {len(result.announced)} announced, "
                  f"{len(result.failed)} failed"
                  + (f", {len(result.waiting)} still changing" if result.waiting else ""))
            return 1 if result.failed else 0
    except (SourceError, StorageUnavailable) as exc:
        print(f"aurora: {exc}", file=sys.stderr)
        return 1
    watch_forever(watcher, args.interval)
    return 0


def _fetch(args: argparse.Namespace, settings: Settings) -> int:
    selection = Selection(modes=frozenset(m.lower() for m in args.mode), first_day=args.start,
                          last_day=args.end, versions=frozenset(args.version))
    try:
        result = mirror(open_source(args.source, settings), args.out,
                        max_bytes=settings.max_file_bytes, selection=selection,
                        progress=not args.no_progress)
    except SourceError as exc:
        print(f"aurora: {exc}", file=sys.stderr)
        return 1
    print(result.describe())
    for path, reason in sorted(result.failed.items()):
        print(f"  failed: {path}: {reason}", file=sys.stderr)
    if result.failed:
        print("aurora: run the same command again to continue the failed files",
              file=sys.stderr)
    return 1 if result.failed else 0


def _bucket_init(args: argparse.Namespace, settings: Settings) -> int:
    storage = Storage.from_settings(settings)
    deadline = time.monotonic() + args.wait
    while True:
        try:
            storage.ensure_bucket()
            if args.notify_arn:
                storage.notify_on_create(args.notify_arn, settings.s3_input_prefix)
        except StorageUnavailable as exc:
            if time.monotonic() >= deadline:
                print(f"aurora: {exc}", file=sys.stderr)
                return 1
            time.sleep(2)
            continue
        print(f"bucket {settings.s3_bucket} ready at {settings.s3_endpoint or 'AWS S3'}")
        return 0


def _report(args: argparse.Namespace) -> int:
    try:
        figure, page, counts = make_report(args.run_dir)
    except ReportError as exc:
        print(f"aurora: {exc}", file=sys.stderr)
        return 2
    sets = image_set_line(counts["image_sets_night"], counts["image_sets_with_aurora"])
    print(f"{counts['observations']} observations, {counts['detections']} detections; {sets} "
          f"-> {figure}, review page {page}")
    return 0


@contextmanager
def _chain(args: argparse.Namespace,
           settings: Settings) -> Iterator[LocalStack | RemoteChain | None]:
    """The chain ``aurora run --via-events`` goes through: a cluster's, a local stack of
    containers, or (None) a local stack of processes that run_via_events starts itself."""
    if args.broker:
        yield RemoteChain(settings, args.broker)
    elif args.containers:
        with LocalStack(args.out / ".stack", settings, images=FunctionImages()) as stack:
            yield stack
    else:
        yield None


def _stack_up(args: argparse.Namespace, settings: Settings) -> int:
    try:
        stack = LocalStack(args.state, settings, broker_port=args.broker_port,
                           s3_port=args.s3_port,
                           images=FunctionImages() if args.containers else None).start()
    except StackError as exc:
        print(f"aurora: {exc}", file=sys.stderr)
        return 1
    print(f"S3 endpoint  {stack.s3_endpoint}  (bucket {settings.s3_bucket}, "
          f"key id {LOCAL_CREDENTIALS[0]})\n"
          f"broker       {stack.broker_url}  (POST CloudEvents; GET /stats)\n"
          f"logs         {args.state / 'logs'}\n"
          f"Upload under {settings.s3_input_prefix} and send {OBSERVATION_STORED}; "
          "Ctrl-C stops the stack.", flush=True)
    try:
        while True:
            stopped = stack.stopped_parts()
            if stopped:
                print(f"aurora: {', '.join(stopped)} stopped; see {args.state / 'logs'}",
                      file=sys.stderr)
                return 1
            time.sleep(1)
    except KeyboardInterrupt:
        return 0
    finally:
        stack.stop()


def _product_version(text: str) -> str:
    if not re.fullmatch(r"\d{2}-\d{2}", text):
        raise argparse.ArgumentTypeError(f"a product version is VV-RR, such as 01-04, not {text!r}")
    return text


def _utc_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"a date is YYYY-MM-DD, such as 2022-03-31, not {text!r} "
                                         f"({exc})") from None


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def gain_range(text: str) -> tuple[float, float]:
    """An argparse type: counts per rayleigh as LOW:HIGH (or one value), checked."""
    low, _, high = text.partition(":")
    try:
        values = (float(low), float(high or low))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"give counts per rayleigh as LOW:HIGH, e.g. 50:150, not {text!r}") from None
    try:
        return checked_gain(*values)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


if __name__ == "__main__":
    sys.exit(main())
