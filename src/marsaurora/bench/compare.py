"""``aurora bench``: the paper's path, our embedded path and our event stack, in one run.

Every path runs in its own child process over the same fixed-seed synthetic
files, one after the other, so the ratios compare like with like on
whatever machine runs it (these machines are shared: read ratios, not
absolute numbers). Prints a table with the targets of the benchmark issue,
or JSON.
"""

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from marsaurora.bench.paths import PATHS
from marsaurora.synth.generate import TRUTH_FILE, SynthSpec, generate

TARGETS = (
    ("embedded obs/s >= 25", lambda r: _rate(r, "embedded"), lambda v: v >= 25),
    ("embedded / baseline >= 10x", lambda r: _ratio(r), lambda v: v >= 10),
    ("classify p50 < 3 ms", lambda r: _stage(r, "embedded", "classify"), lambda v: v < 3),
    ("classify process peak RSS < 150 MB", lambda r: r["stack"]["peak_rss_mb"].get("classify"),
     lambda v: v < 150),
    ("detect p50 < 70 ms", lambda r: _stage(r, "embedded", "detect"), lambda v: v < 70),
    ("stack obs/s >= 10", lambda r: _rate(r, "stack"), lambda v: v >= 10),
)


def ensure_data(n: int, seed: int, folder: Path) -> list[Path]:
    """The benchmark's files: made once per (n, seed) and reused."""
    truth = folder / TRUTH_FILE
    if not truth.is_file() or sum(1 for _ in truth.open()) != n:
        records = list(generate(SynthSpec(n=n, seed=seed), folder))
    else:
        records = [json.loads(line) for line in truth.open()]
    return [folder / record["file"] for record in records]


def run_path(name: str, files: list[Path]) -> dict[str, Any]:
    """One path in a child process; its JSON result."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as listing:
        listing.write("\n".join(str(p) for p in files))
    try:
        done = subprocess.run([sys.executable, "-m", "marsaurora.bench.paths", name,
                               listing.name], capture_output=True, text=True, check=False)
    finally:
        os.unlink(listing.name)
    if done.returncode != 0:
        raise RuntimeError(f"the {name} path failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare(n: int, seed: int, data_dir: Path, paths: tuple[str, ...]) -> dict[str, Any]:
    """Measure each path over the same files; add the machine and the targets."""
    files = ensure_data(n, seed, data_dir)
    results: dict[str, Any] = {"n": n, "seed": seed, "machine": machine()}
    for name in paths:
        print(f"measuring {name} over {n} observations ...", file=sys.stderr, flush=True)
        results[name] = run_path(name, files)
    results["targets"] = judge(results)
    return results


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu": model, "python": platform.python_version(),
            "system": platform.platform(), "opencv_gui": opencv_gui()}


def opencv_gui() -> str:
    """The GUI backend the loaded OpenCV was built with: ``NONE`` for the headless build
    the images and ``pip install marsaurora`` carry; a GUI build (``QT5``, pulled in beside
    it by ultralytics in a training or test environment) maps its toolkit into every
    process that imports cv2, which shows in the peak memory of each stack function."""
    import cv2

    for line in cv2.getBuildInformation().splitlines():
        name, _, value = line.strip().partition(":")
        if name == "GUI":
            return value.strip() or "NONE"
    return "NONE"


def render_table(results: dict[str, Any]) -> str:
    """The results for people: one row per path, then the targets."""
    stages = ["read", "preprocess", "plot", "resize", "crop", "mask", "classify", "detect",
              "catalog"]
    lines = [f"{results['n']} observations (seed {results['seed']}), {results['machine']['cpus']}"
             f" CPUs, {results['machine']['cpu']}", ""]
    header = f"{'path':9} {'obs/s':>7} {'x base':>7}  " + "  ".join(
        f"{s + ' p50/p95 ms':>20}" for s in stages if _any_stage(results, s))
    lines += [header, "-" * len(header)]
    base = results.get("baseline", {}).get("observations_per_s")
    for name in PATHS:
        if name not in results:
            continue
        row = results[name]
        ratio = f"{row['observations_per_s'] / base:.1f}" if base else "-"
        cells = []
        for stage in stages:
            if not _any_stage(results, stage):
                continue
            value = row["stage_ms"].get(stage)
            cells.append(f"{value['p50']:>9} / {value['p95']:<8}" if value else f"{'-':>20}")
        lines.append(f"{name:9} {row['observations_per_s']:>7} {ratio:>7}  " + "  ".join(cells))
    lines.append("")
    for name in PATHS:
        if name in results:
            peaks = ", ".join(f"{k} {v} MB" for k, v in results[name]["peak_rss_mb"].items())
            lines.append(f"peak RSS {name}: {peaks}")
    gui = results["machine"].get("opencv_gui", "NONE")
    if gui != "NONE":
        lines.append(f"note: this OpenCV is a GUI build ({gui}; ultralytics installs it beside "
                     f"the headless one): each process importing cv2 holds more memory than "
                     f"with the headless build the images and `pip install marsaurora` use")
    lines.append("")
    for label, verdict in results["targets"].items():
        lines.append(f"{verdict['status']:4}  {label}  (measured {verdict['value']})")
    return "\n".join(lines)


def judge(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each of :data:`TARGETS` against measured results: PASS, FAIL, or n/a (not measured)."""
    return {label: _judge(results, value, test) for label, value, test in TARGETS}


def _judge(results: dict[str, Any], value: Any, test: Any) -> dict[str, Any]:
    try:
        measured = value(results)
    except KeyError:
        measured = None
    if measured is None:
        return {"status": "n/a", "value": None}
    return {"status": "PASS" if test(measured) else "FAIL", "value": round(measured, 2)}


def _rate(results: dict[str, Any], name: str) -> float:
    return results[name]["observations_per_s"]


def _ratio(results: dict[str, Any]) -> float:
    return _rate(results, "embedded") / _rate(results, "baseline")


def _stage(results: dict[str, Any], name: str, stage: str) -> float | None:
    value = results[name]["stage_ms"].get(stage)
    return value["p50"] if value else None


def _any_stage(results: dict[str, Any], stage: str) -> bool:
    return any(stage in results[name]["stage_ms"] for name in PATHS if name in results)


def main(argv: list[str] | None = None) -> int:
    """Command line of ``aurora bench`` and ``scripts/bench.py``."""
    parser = argparse.ArgumentParser(prog="aurora bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200, help="observations (default 200)")
    parser.add_argument("--seed", type=int, default=2024, help="data seed (default 2024)")
    parser.add_argument("--data", type=Path, default=None,
                        help="folder for the benchmark's files (default .bench-data/n<N>-s<SEED>)")
    parser.add_argument("--paths", default=",".join(PATHS),
                        help=f"comma-separated subset of {','.join(PATHS)}")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    args = parser.parse_args(argv)
    chosen = tuple(p for p in args.paths.split(",") if p)
    unknown = set(chosen) - set(PATHS)
    if unknown or args.n < 1:
        parser.error(f"unknown paths {sorted(unknown)}" if unknown else "--n must be at least 1")
    if "baseline" in chosen and importlib.util.find_spec("ultralytics") is None:
        parser.error("the baseline path (the paper's pipeline) runs its model through "
                     "ultralytics, which is not installed: pip install 'marsaurora[train]', "
                     "or leave it out with --paths embedded,stack")
    data = args.data or Path(".bench-data") / f"n{args.n}-s{args.seed}"
    results = compare(args.n, args.seed, data, chosen)
    print(json.dumps(results, indent=2) if args.json else render_table(results))
    return 0
