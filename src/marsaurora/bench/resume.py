"""``scripts/bench_resume.py``: an archive-sized ``aurora run`` killed, resumed and repeated.

For each N: a full run (time, peak memory of the runner and of its largest
worker), then a second folder where the run is killed with SIGKILL at about
half way and resumed, then the same command repeated, which must process
nothing. Every case is checked for exactly one current record per input.
The inputs are hard links to ``--distinct`` generated files under new orbit
numbers (as in ``scripts/bench_scaling.py``). Prints a table and writes
``resume.json`` to ``--out``.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from marsaurora.bench.compare import ensure_data, machine
from marsaurora.bench.scaling import files_for
from marsaurora.resume import RECORDS_FILE

PEAK_RSS_WRAPPER = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(done.stderr[-2000:], file=sys.stderr)
print(f"PEAK_RSS_MB {peak:.1f}")
sys.exit(done.returncode)
"""
"""Runs a command and prints the largest resident set of it and its descendants (Linux kB)."""


def aurora_run(inputs: Path, out: Path) -> list[str]:
    """The command line of one run."""
    return [sys.executable, "-m", "marsaurora.cli", "run", str(inputs), "--out", str(out),
            "--no-progress"]


def timed_run(inputs: Path, out: Path) -> dict[str, Any]:
    """One run to its end: seconds, peak memory, what it said it would process."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PEAK_RSS_WRAPPER, *aurora_run(inputs, out)],
                          capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"aurora run failed:\n{done.stderr[-3000:]}")
    peak = float(done.stdout.split("PEAK_RSS_MB")[-1])
    planned = next((line.split(": ", 1)[1] for line in done.stderr.splitlines()
                    if " to process (" in line), "")
    return {"elapsed_s": round(elapsed, 2), "peak_rss_mb": peak, "plan": planned}


def killed_run(inputs: Path, out: Path, n: int) -> dict[str, Any]:
    """A run killed with SIGKILL (itself and its workers) once half the records are written."""
    records = out / RECORDS_FILE
    run = subprocess.Popen(aurora_run(inputs, out), stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, start_new_session=True)
    while run.poll() is None:
        if records.is_file() and records.stat().st_size and _lines(records) >= n // 2:
            break
        time.sleep(0.2)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    return {"records_when_killed": _lines(records)}


def one_record_each(inputs: list[Path], out: Path) -> bool:
    """Whether the folder holds exactly one record per input name, and no other."""
    names = [json.loads(line)["observation"] for line in (out / RECORDS_FILE).open()]
    return len(names) == len(set(names)) and set(names) == {p.name for p in inputs}


def _lines(path: Path) -> int:
    with path.open("rb") as stream:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: stream.read(1 << 20), b""))


def measure(n: int, originals: list[Path], work: Path) -> dict[str, Any]:
    """The full, killed, resumed and repeated runs at one N."""
    inputs = work / f"inputs-{n}"
    files = files_for(n, originals, inputs)
    inputs.mkdir(parents=True, exist_ok=True)
    for source in originals[:n]:
        target = inputs / source.name
        if not target.exists():
            os.link(source, target)
    for old in (work / f"full-{n}", work / f"resumed-{n}"):
        shutil.rmtree(old, ignore_errors=True)
    result: dict[str, Any] = {"n": n}
    print(f"N={n}: full run ...", file=sys.stderr, flush=True)
    result["full"] = timed_run(inputs, work / f"full-{n}")
    result["full"]["one_record_each"] = one_record_each(files, work / f"full-{n}")
    out = work / f"resumed-{n}"
    print(f"N={n}: killed at half way ...", file=sys.stderr, flush=True)
    result["killed"] = killed_run(inputs, out, n)
    result["resumed"] = timed_run(inputs, out)
    result["resumed"]["one_record_each"] = one_record_each(files, out)
    result["resumed"]["catalog_equal"] = ((out / "catalog.csv").read_bytes()
                                          == (work / f"full-{n}" / "catalog.csv").read_bytes())
    print(f"N={n}: repeated ...", file=sys.stderr, flush=True)
    result["repeated"] = timed_run(inputs, out)
    result["repeated"]["one_record_each"] = one_record_each(files, out)
    return result


def render(results: list[dict[str, Any]]) -> str:
    """The table people read."""
    lines = ["| N | full run | peak RSS | killed at | resumed | repeated | repeated plan | "
             "one record each | catalogue = full run's |", "|" + " --- |" * 9]
    for r in results:
        lines.append(
            f"| {r['n']} | {r['full']['elapsed_s']} s | {r['full']['peak_rss_mb']:.0f} MB | "
            f"{r['killed']['records_when_killed']} | {r['resumed']['elapsed_s']} s | "
            f"{r['repeated']['elapsed_s']} s | {r['repeated']['plan']} | "
            f"{all(r[k]['one_record_each'] for k in ('full', 'resumed', 'repeated'))} | "
            f"{r['resumed']['catalog_equal']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line of ``scripts/bench_resume.py``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,5000,20000", help="comma-separated N values")
    parser.add_argument("--distinct", type=int, default=200,
                        help="distinct files generated (default 200); larger N reuse them")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--data", type=Path, default=Path(".bench-data"))
    parser.add_argument("--out", type=Path, default=Path("docs"),
                        help="folder for resume.json (default docs/)")
    args = parser.parse_args(argv)
    sizes = sorted(int(v) for v in args.sizes.split(",") if v)
    originals = ensure_data(args.distinct, args.seed, args.data / f"n{args.distinct}-s{args.seed}")
    work = args.data / f"resume-s{args.seed}"
    results = []
    for n in sizes:
        results.append(measure(n, originals, work))
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "resume.json").write_text(json.dumps(
            {"machine": machine(), "distinct": args.distinct, "runs": results}, indent=2) + "\n")
        print(render(results), file=sys.stderr, flush=True)
    print(render(results))
    return 0
