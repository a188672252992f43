"""Measure the classify screens on synthetic scenario sets, and the evidence fusion relies on.

Generates (or reuses) one folder per scenario, reads and renders each file
once, and runs every screen configuration on it. Prints, per configuration,
the fraction of files that pass on each scenario, the screen's aurora recall
by peak brightness and by emission angle, and the pass rate of quiet nights
that carry hot pixels; then the significance of the strongest feature on
every aurora-free scan (noise, limb, terminator and hot pixels), which the
fusion thresholds must stand clear of.

    python scripts/calibrate_screens.py --n 60 --seed 101 --out /tmp/calibration
    python scripts/calibrate_screens.py --n 60 --seed 7101 --ranges ood --out /tmp/calibration

The numbers in docs/screens.md come from these commands.
"""

import argparse
import json
import sys
from collections import defaultdict
from multiprocessing import Pool
from pathlib import Path
from typing import Any

import numpy as np

from marsaurora.classify import PaperFilterParams, PhysicalScreenParams, classify
from marsaurora.classify.excess import excess_map
from marsaurora.emus import read_l2b
from marsaurora.evaluate import EMISSION_BINS_DEG, PEAK_BINS_R
from marsaurora.preprocess import render_heatmap
from marsaurora.synth.generate import TRUTH_FILE, SynthSpec, generate
from marsaurora.synth.ranges import RANGES
from marsaurora.synth.scene import SCENARIOS

CONFIGURATIONS = {
    "physical (default)": {"screen": "physical", "physical": PhysicalScreenParams()},
    "paper, literal": {"screen": "paper", "paper": PaperFilterParams()},
    "paper, mask 150 px + min object 50 px": {
        "screen": "paper", "paper": PaperFilterParams(mask_radius_px=150, min_object_area_px=50)},
}


def scenario_sets(out: Path, n: int, seed: int, ranges: str) -> dict[str, list[dict]]:
    """Truth records per scenario, generating the folders that are missing."""
    sets = {}
    for offset, scenario in enumerate(SCENARIOS):
        folder = out / f"{ranges}-{seed}" / scenario
        truth = folder / TRUTH_FILE
        if not truth.exists() or sum(1 for _ in truth.open()) != n:
            spec = SynthSpec(n=n, seed=seed + offset, scenarios=(scenario,), ranges=ranges,
                             compress=False)
            list(generate(spec, folder))
        sets[scenario] = [json.loads(line) | {"path": str(folder / json.loads(line)["file"])}
                          for line in truth.open()]
    return sets


def measure_file(truth: dict[str, Any]) -> dict[str, Any]:
    """Every configuration's verdict on one file, and its strongest feature's significance."""
    observation = read_l2b(truth["path"])
    heatmap = render_heatmap(observation)
    excess = excess_map(observation, PhysicalScreenParams().excess)
    return {"passed": {name: classify(observation, heatmap, **config).passed
                       for name, config in CONFIGURATIONS.items()},
            "strongest": excess.strongest_significance}


def tally(sets: dict[str, list[dict]], workers: int) -> dict[str, Any]:
    """Pass counts per configuration and column, and the noise significances."""
    jobs = [truth for records in sets.values() for truth in records]
    with Pool(workers) as pool:
        results = pool.map(measure_file, jobs)
    tallies: dict[str, dict] = {name: defaultdict(lambda: [0, 0]) for name in CONFIGURATIONS}
    noise: dict[str, list[float]] = defaultdict(list)
    for truth, result in zip(jobs, results, strict=True):
        scenario = truth["scenario"]
        keys = [scenario] + _columns(truth)
        for name, passed in result["passed"].items():
            for key in keys:
                tallies[name][key][0] += passed
                tallies[name][key][1] += 1
        if not truth["auroras"]:
            noise[scenario].append(result["strongest"])
    return {"pass": {name: {key: {"passed": p, "total": t, "rate": p / t}
                            for key, (p, t) in rows.items()} for name, rows in tallies.items()},
            "noise": {scenario: _quantiles(values) for scenario, values in noise.items()}}


def _columns(truth: dict[str, Any]) -> list[str]:
    """The extra columns a file counts in: its brightest aurora's bins, hot pixels."""
    columns = []
    if truth["scenario"] == "quiet_night" and any(h["type"] == "hot_pixel"
                                                  for h in truth["hard_negatives"]):
        columns.append("quiet_night with hot pixels")
    if truth["auroras"]:
        brightest = max(truth["auroras"], key=lambda a: a["peak_r"])
        columns += [_bin("peak", brightest["peak_r"], PEAK_BINS_R, "R"),
                    _bin("EA", brightest["emission_deg"], EMISSION_BINS_DEG, "deg")]
    return columns


def _bin(axis: str, value: float, bins: tuple[tuple[float, float], ...], unit: str) -> str:
    for low, high in bins:
        if low <= value < high:
            return f"aurora {axis} {low:g}-{high:g} {unit}"
    return f"aurora {axis} other"


def _quantiles(values: list[float]) -> dict[str, float]:
    array = np.array(values)
    return {"n": int(array.size), "median": round(float(np.median(array)), 2),
            "p90": round(float(np.percentile(array, 90)), 2),
            "max": round(float(array.max()), 2)}


def print_tables(results: dict[str, Any]) -> None:
    """Markdown: pass rates per configuration and column, then the noise significances."""
    passes = results["pass"]
    keys = {key for rows in passes.values() for key in rows}
    columns = [s for s in SCENARIOS if s in keys] + sorted(keys - set(SCENARIOS))
    print("| screen | " + " | ".join(columns) + " |")
    print("| --- |" + " --- |" * len(columns))
    for name, rows in passes.items():
        cells = [f"{rows[c]['rate']:.0%} ({rows[c]['passed']}/{rows[c]['total']})" if c in rows
                 else "-" for c in columns]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print()
    print("| aurora-free scenario | scans | strongest feature, median sigma | p90 | max |")
    print("| --- | --- | --- | --- | --- |")
    for scenario, q in results["noise"].items():
        print(f"| {scenario} | {q['n']} | {q['median']} | {q['p90']} | {q['max']} |")


def main() -> int:
    """Parse arguments, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=60, help="files per scenario (default 60)")
    parser.add_argument("--seed", type=int, default=101, help="first seed (default 101)")
    parser.add_argument("--ranges", choices=sorted(RANGES), default="train",
                        help="generator ranges (default train)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/aurora-calibration"),
                        help="where the scenario folders live")
    parser.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    args = parser.parse_args()
    results = tally(scenario_sets(args.out, args.n, args.seed, args.ranges), args.workers)
    if args.json:
        json.dump(results, sys.stdout, indent=2)
        print()
    else:
        print_tables(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
