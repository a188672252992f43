"""Generate a folder of synthetic EMUS L2B files with ``truth.jsonl``.

Each file gets its own random stream spawned from the batch seed, so file
``k`` of seed ``S`` is the same whatever ``N`` is, and any subset can be
regenerated alone.
"""

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from functools import partial
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from marsaurora.runner import map_in_workers
from marsaurora.synth.ranges import RANGES, SceneRanges
from marsaurora.synth.scene import DEFAULT_MIX, SCENARIOS, Scene, make_scene
from marsaurora.synth.writer import write_l2b

TRUTH_FILE = "truth.jsonl"
EMM_ORBIT_EPOCH = datetime(2021, 2, 9, 15, 57)
ORBIT_PERIOD_H = 54.5


@dataclass(frozen=True)
class SynthSpec:
    """What to generate: how many files, which scenarios, which seed."""

    n: int
    seed: int
    scenarios: Sequence[str] = ()
    """Draw only these scenarios (equal odds); empty means :data:`DEFAULT_MIX`."""
    compress: bool = True
    ranges: str = "train"
    """Which :data:`~marsaurora.synth.ranges.RANGES` the scenes are drawn from."""
    gain_counts_per_r: tuple[float, float] | None = None
    """Counts per rayleigh to draw from instead of the ranges' own: how noisy the scans are."""

    @property
    def scene_ranges(self) -> SceneRanges:
        """The ranges the scenes are drawn from, with the gain given here if any."""
        ranges = RANGES[self.ranges]
        if self.gain_counts_per_r is None:
            return ranges
        return replace(ranges, gain_counts_per_r=self.gain_counts_per_r)


def read_truth(folder: Path) -> list[dict[str, Any]]:
    """The truth records of a folder :func:`generate` wrote, in file order; FileNotFoundError
    saying how to make one when it has none."""
    path = folder / TRUTH_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: make the folder with `aurora synth --out`")
    return [json.loads(line) for line in path.read_text().splitlines()]


def checked_gain(low: float, high: float) -> tuple[float, float]:
    """A range of counts per rayleigh to draw from, or ValueError saying what is wrong."""
    if not 0 < low <= high:
        raise ValueError(f"gain {low:g}:{high:g} counts per rayleigh: need 0 < LOW <= HIGH")
    return low, high


def generate(spec: SynthSpec, out_dir: Path, *,
             workers: int = 1) -> Iterator[dict[str, Any]]:
    """Write ``spec.n`` files into ``out_dir``, yielding each truth record.

    ``truth.jsonl`` is written as files are made, one line per file, in
    index order. With several ``workers``, files are drawn in parallel by the batch
    runner's processes (:func:`marsaurora.runner.surviving_map`: a worker killed midway costs
    no file, and workers that cannot start raise ``WorkersCannotStart``); the output is
    identical either way.
    """
    for scenario in spec.scenarios:
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}; choose from {', '.join(SCENARIOS)}")
    if spec.ranges not in RANGES:
        raise ValueError(f"unknown ranges {spec.ranges!r}; choose from {', '.join(RANGES)}")
    if spec.gain_counts_per_r is not None:
        checked_gain(*spec.gain_counts_per_r)
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = list(enumerate(np.random.SeedSequence(spec.seed).spawn(spec.n)))
    work = partial(make_file, spec=spec, out_dir=out_dir)
    records = map_in_workers(work, jobs, workers, drawing_died)
    with (out_dir / TRUTH_FILE).open("w", encoding="utf-8") as truth_file:
        for record in records:
            truth_file.write(json.dumps(record) + "\n")
            truth_file.flush()
            yield record


class DrawingDied(RuntimeError):
    """A file's worker process died twice while drawing it."""


def drawing_died(job: tuple[int, np.random.SeedSequence], reason: str) -> dict[str, Any]:
    """For :func:`marsaurora.runner.surviving_map`: a drawing that kills its worker even alone
    ends the batch, since a set with a gap would not be the set its seed names."""
    raise DrawingDied(f"the worker drawing number {job[0]} of the set died ({reason}), and again "
                      "when it was drawn alone. Out of memory? Draw with fewer workers "
                      "(--workers 1), or free memory; everything before it is written.")


def make_file(job: tuple[int, np.random.SeedSequence], spec: SynthSpec,
              out_dir: Path) -> dict[str, Any]:
    """Draw, render and write file number ``index`` of ``job``; return its truth record."""
    index, stream = job
    rng = np.random.default_rng(stream)
    scenario = _draw_scenario(rng, spec.scenarios)
    scene = make_scene(rng, scenario, ranges=spec.scene_ranges)
    start = (datetime(2021, 6, 1) + timedelta(hours=7 * index + spec.seed % 1000 * 24 * 7)
             + timedelta(seconds=int(rng.integers(0, 3600))))
    mode, swath = _mode_and_swath(rng, scene)
    name = file_name(start, mode, swath, kernels=str(rng.choice(["r", "p", "f"])),
                     compress=spec.compress)
    axes = str(rng.choice(["nint,npix", "npix,nint"]))
    centre = int(rng.choice([0, 4], p=[0.75, 0.25]))
    write_l2b(scene, out_dir / name, start_utc=start, radiance_axes=axes, centre_point=centre,
              seed=spec.seed)
    return truth_record(name, scene, axes, centre) | {"ranges": spec.ranges}


def file_name(start: datetime, mode: str, swath: str, *, kernels: str = "r",
              compress: bool = True) -> str:
    """EMUS-convention name for a file starting at ``start``."""
    orbit = int((start - EMM_ORBIT_EPOCH).total_seconds() // (ORBIT_PERIOD_H * 3600))
    suffix = ".fits.gz" if compress else ".fits"
    return (f"emm_emu_l2b_{start:%Y%m%dt%H%M%S}_{orbit:04d}_{mode}_{swath}_{kernels}"
            f"_v01-04{suffix}")


def truth_record(name: str, scene: Scene, radiance_axes: str, centre_point: int) -> dict[str, Any]:
    """One ``truth.jsonl`` line: what the file holds, in the file's own terms."""
    view = scene.view
    return {
        "file": name,
        "scenario": scene.scenario,
        "has_aurora": scene.has_aurora,
        "auroras": [a.to_record() for a in scene.auroras],
        "hard_negatives": scene.hard_negatives,
        "night_background_r": round(scene.night_background_r, 4),
        "dayside_peak_r": round(scene.dayside_peak_r, 1),
        "gain_counts_per_r": round(scene.gain_counts_per_r, 3),
        "nint": view.nint,
        "npix": view.npix,
        "sc_distance_km": round(view.sc_distance_km, 1),
        "radiance_axes": radiance_axes,
        "centre_point": centre_point,
    }


def _draw_scenario(rng: np.random.Generator, scenarios: Sequence[str]) -> str:
    if scenarios:
        return str(rng.choice(list(scenarios)))
    names = list(DEFAULT_MIX)
    return str(rng.choice(names, p=[DEFAULT_MIX[n] for n in names]))


def _mode_and_swath(rng: np.random.Generator, scene: Scene) -> tuple[str, str]:
    if scene.view.sc_distance_km < 31000:
        return "os2", f"sw{int(rng.integers(1, 4))}of3"
    mode = "os1" if scene.scenario == "dayside" else str(rng.choice(["osr", "osp"]))
    swath = "sw1of1" if rng.random() < 0.5 else str(int(rng.integers(1, 40000)))
    return mode, swath
