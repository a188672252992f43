"""``scripts/bench_scaling.py``: the same paths at growing N, to show time grows linearly
and memory stays flat.

Every N draws on one fixed-seed set of ``--distinct`` files. Above that, the
files are reused through hard links under new names (the orbit field moved
on), which cost no disk: 5000 distinct L2B files would need 42 GB. The event
stack keeps every object it is given in its S3 server (on disk above 64 KB),
so its largest N is bounded by the free disk; ``--stack-max`` says where to
stop it. Writes ``scaling.json`` and two plots (time, memory) to ``--out``.
"""

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from marsaurora.bench.compare import ensure_data, judge, machine, render_table, run_path
from marsaurora.bench.paths import PATHS
from marsaurora.emus import parse_filename


def files_for(n: int, distinct: list[Path], link_dir: Path) -> list[Path]:
    """``n`` inputs: the distinct files, then hard links to them under new orbit numbers."""
    chosen = list(distinct[:n])
    copy = 1
    while len(chosen) < n:
        folder = link_dir / f"copy{copy}"
        folder.mkdir(parents=True, exist_ok=True)
        for source in distinct[:n - len(chosen)]:
            target = folder / _renamed(source.name, copy)
            if not target.exists():
                os.link(source, target)
            chosen.append(target)
        copy += 1
    return chosen


def _renamed(name: str, copy: int) -> str:
    orbit = parse_filename(name).orbit
    fields = name.split("_")
    fields[4] = f"{orbit + 10000 * copy:05d}"
    return "_".join(fields)


def measure(sizes: list[int], paths: tuple[str, ...], distinct: int, seed: int, data: Path,
            limits: dict[str, int], out: Path) -> dict[str, Any]:
    """Each path at each N (up to its limit); ``out/scaling.json`` rewritten after each N."""
    originals = ensure_data(distinct, seed, data / f"n{distinct}-s{seed}")
    results: dict[str, Any] = {"seed": seed, "distinct": distinct, "machine": machine(),
                               "runs": []}
    for n in sizes:
        files = files_for(n, originals, data / f"links-n{distinct}-s{seed}")
        run: dict[str, Any] = {"n": n, "seed": seed, "machine": results["machine"]}
        for name in paths:
            if n > limits.get(name, n):
                continue
            print(f"N={n}: measuring {name} ...", file=sys.stderr, flush=True)
            run[name] = run_path(name, files)
        run["targets"] = judge(run)
        print(render_table(run), file=sys.stderr, flush=True)
        results["runs"].append(run)
        (out / "scaling.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


def plot(results: dict[str, Any], out: Path) -> list[Path]:
    """Elapsed time and peak memory against N, one line per path."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    written = []
    for what, label in (("elapsed_s", "elapsed time (s)"), ("peak_rss_mb", "peak RSS (MB)")):
        figure = Figure(figsize=(6.4, 4.2), dpi=100)
        axes = figure.add_subplot()
        for name, line, value in _series(what):
            points = [(run["n"], value(run[name])) for run in results["runs"] if name in run]
            if points:
                xs, ys = zip(*points, strict=True)
                axes.plot(xs, ys, marker="o", label=line)
        axes.set_xscale("log")
        axes.set_yscale("log" if what == "elapsed_s" else "linear")
        axes.set_xlabel("observations (N)")
        axes.set_ylabel(label)
        axes.set_title(f"{label} against N, {results['machine']['cpus']} CPUs")
        axes.grid(True, which="both", alpha=0.3)
        axes.legend()
        path = out / f"scaling-{'time' if what == 'elapsed_s' else 'memory'}.png"
        figure.savefig(path, bbox_inches="tight")
        written.append(path)
    return written


def _series(what: str) -> list[tuple[str, str, Any]]:
    """(path, legend, value of one result) for each line of a plot.

    Memory is drawn per kind of process: the S3 server's grows with what the
    bucket holds, which is storage, not the pipeline's working memory.
    """
    if what == "elapsed_s":
        return [(name, name, lambda result: result["elapsed_s"]) for name in PATHS]
    return [
        ("baseline", "baseline process", lambda r: r["peak_rss_mb"]["process"]),
        ("embedded", "embedded worker (largest)", lambda r: r["peak_rss_mb"]["worker (largest)"]),
        ("embedded", "embedded runner", lambda r: r["peak_rss_mb"]["runner"]),
        ("stack", "stack function (largest)",
         lambda r: max(v for k, v in r["peak_rss_mb"].items() if k not in ("s3", "broker"))),
        ("stack", "stack S3 server (holds the bucket)", lambda r: r["peak_rss_mb"]["s3"]),
    ]


def main(argv: list[str] | None = None) -> int:
    """Command line of ``scripts/bench_scaling.py``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,1000,5000", help="comma-separated N values")
    parser.add_argument("--paths", default=",".join(PATHS),
                        help=f"comma-separated subset of {','.join(PATHS)}")
    parser.add_argument("--distinct", type=int, default=1000,
                        help="distinct files generated (default 1000); larger N reuse them")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--data", type=Path, default=Path(".bench-data"))
    parser.add_argument("--stack-max", type=int, default=1000,
                        help="largest N for the stack path (its S3 server keeps every object)")
    parser.add_argument("--baseline-max", type=int, default=None,
                        help="largest N for the baseline path (default: every N)")
    parser.add_argument("--out", type=Path, default=Path("docs"),
                        help="folder for scaling.json and the plots (default docs/)")
    args = parser.parse_args(argv)
    sizes = sorted(int(v) for v in args.sizes.split(",") if v)
    paths = tuple(p for p in args.paths.split(",") if p)
    if set(paths) - set(PATHS) or not sizes or min(sizes) < 1:
        parser.error(f"--paths takes {','.join(PATHS)}; --sizes takes positive integers")
    limits = {"stack": args.stack_max}
    if args.baseline_max is not None:
        limits["baseline"] = args.baseline_max
    args.out.mkdir(parents=True, exist_ok=True)
    results = measure(sizes, paths, args.distinct, args.seed, args.data, limits, args.out)
    for path in plot(results, args.out):
        print(f"wrote {path}", file=sys.stderr)
    return 0
