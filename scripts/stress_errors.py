"""The screen on files whose brightness and errors break the format page's Poisson rule.

A fitted Level 2B brightness need not be Poisson counts: on a dark night it
scatters about zero, its error carries a part from the fit, and an
over- or under-subtracted background shifts it. This takes a folder made by
``aurora synth`` and, for each variant, adds an offset and Gaussian scatter
to every brightness (the scatter also to the errors, in quadrature), then
reports the strongest excess feature on the aurora-free scans and how many
aurora scans keep a feature at the screen's significance (the excess map
only: neither the screen's other conditions nor the detector). The scatter is drawn per file from a
fixed seed, so a run repeats. Usage::

    python scripts/stress_errors.py validation/ [--variants=0:0.05,0.3:0.05,-0.1:0.05]
"""

import argparse
import json
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np

from marsaurora.classify import PhysicalScreenParams
from marsaurora.classify.excess import excess_map
from marsaurora.emus import read_l2b
from marsaurora.synth.generate import TRUTH_FILE

DEFAULT_VARIANTS = "0:0,0:0.05,0:0.1,0.3:0.05,-0.1:0.05,-0.02:0"


def strongest(path: Path, offset_r: float, scatter_r: float) -> float:
    """The most significant feature of one file once the variant is applied."""
    observation = read_l2b(path)
    rng = np.random.default_rng(zlib.crc32(path.name.encode()))
    noise = rng.normal(0.0, scatter_r, observation.shape) if scatter_r else 0.0
    varied = replace(
        observation,
        brightness_r=(observation.brightness_r + offset_r + noise).astype(np.float32),
        brightness_err_r=np.sqrt(observation.brightness_err_r**2 + scatter_r**2
                                 ).astype(np.float32))
    return max((feature.significance for feature in excess_map(varied).features), default=0.0)


def _one(job: tuple[Path, float, float]) -> float:
    return strongest(*job)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="a folder made by aurora synth")
    parser.add_argument("--variants", default=DEFAULT_VARIANTS,
                        help="comma-separated OFFSET_R:SCATTER_R pairs; a negative offset needs "
                             "--variants=... (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    truth = [json.loads(line) for line in (args.folder / TRUTH_FILE).read_text().splitlines()]
    threshold = PhysicalScreenParams().min_significance
    print("| offset, R | scatter, R | aurora-free scans | strongest feature, sigma "
          f"| at {threshold:g} sigma or more | aurora scans with such a feature |")
    print("| --- | --- | --- | --- | --- | --- |")
    with ProcessPoolExecutor(args.workers) as pool:
        for variant in args.variants.split(","):
            offset_r, scatter_r = (float(part) for part in variant.split(":"))
            jobs = [(args.folder / t["file"], offset_r, scatter_r) for t in truth]
            best = list(pool.map(_one, jobs, chunksize=8))
            free = [b for b, t in zip(best, truth, strict=True) if not t["has_aurora"]]
            aurora = [b for b, t in zip(best, truth, strict=True) if t["has_aurora"]]
            print(f"| {offset_r:g} | {scatter_r:g} | {len(free)} | {max(free, default=0):.2f} "
                  f"| {sum(b >= threshold for b in free)} "
                  f"| {sum(b >= threshold for b in aurora)} of {len(aurora)} |")


if __name__ == "__main__":
    main()
