"""The screen on files whose brightness and errors break the format page's Poisson rule.

A fitted Level 2B brightness need not be Poisson counts: on a dark night it
scatters about zero, its error carries a part from the fit, and an
over- or under-subtracted background shifts it. This takes a folder made by
``aurora synth`` and, for each variant, adds an offset and Gaussian scatter
to every brightness (the scatter also to the errors, in quadrature), then
reports the strongest excess feature on the aurora-free scans, and how many
aurora-free and aurora scans hold a feature the screen passes (its
threshold: 6 sigma, the excess a detector box needs, and its area and
excess floors; the detector is not run, so these are the scans it would
see). The scatter is drawn per file from a fixed seed,
so a run repeats. Usage::

    python scripts/stress_errors.py validation/ [--variants=0:0.05,0.3:0.05,-0.1:0.05]
"""

import argparse
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np

from marsaurora.classify import physical_screen
from marsaurora.emus import read_l2b
from marsaurora.synth.generate import read_truth

DEFAULT_VARIANTS = "0:0,0:0.05,0:0.1,0.3:0.05,-0.1:0.05,-0.02:0"


def strongest(path: Path, offset_r: float, scatter_r: float) -> tuple[float, bool]:
    """The significance of the strongest feature of one file once the variant is applied, and
    whether the screen passes one of its features."""
    observation = read_l2b(path)
    rng = np.random.default_rng(zlib.crc32(path.name.encode()))
    noise = rng.normal(0.0, scatter_r, observation.shape) if scatter_r else 0.0
    varied = replace(
        observation,
        brightness_r=(observation.brightness_r + offset_r + noise).astype(np.float32),
        brightness_err_r=np.sqrt(observation.brightness_err_r**2 + scatter_r**2
                                 ).astype(np.float32))
    result = physical_screen(varied)
    return (result.excess.strongest_significance,
            result.passed)


def _one(job: tuple[Path, float, float]) -> tuple[float, bool]:
    return strongest(*job)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="a folder made by aurora synth")
    parser.add_argument("--variants", default=DEFAULT_VARIANTS,
                        help="comma-separated OFFSET_R:SCATTER_R pairs; a negative offset needs "
                             "--variants=... (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    try:
        truth = read_truth(args.folder)
    except FileNotFoundError as exc:
        parser.error(str(exc))
    print("| offset, R | scatter, R | aurora-free scans | strongest feature, sigma "
          "| aurora-free scans the screen passes | aurora scans the screen passes |")
    print("| --- | --- | --- | --- | --- | --- |")
    with ProcessPoolExecutor(args.workers) as pool:
        for variant in args.variants.split(","):
            offset_r, scatter_r = (float(part) for part in variant.split(":"))
            jobs = [(args.folder / t["file"], offset_r, scatter_r) for t in truth]
            best = list(pool.map(_one, jobs, chunksize=8))
            free = [b for b, t in zip(best, truth, strict=True) if not t["has_aurora"]]
            aurora = [b for b, t in zip(best, truth, strict=True) if t["has_aurora"]]
            print(f"| {offset_r:g} | {scatter_r:g} | {len(free)} "
                  f"| {max((b[0] for b in free), default=0):.2f} "
                  f"| {sum(b[1] for b in free)} "
                  f"| {sum(b[1] for b in aurora)} of {len(aurora)} |")


if __name__ == "__main__":
    main()
