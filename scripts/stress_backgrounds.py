"""The screen on aurora-free scans whose night glow follows laws our generator never draws.

Our generator brightens the night towards the limb by one law and structures it by one
planet-wide ripple; another generator, or Mars, may do neither. This keeps the geometry of
every file in a folder made by ``aurora synth`` (auroras or not), throws its brightness away
and draws a new one with no aurora in it: a dayglow tail past the terminator (e-folding 2-20
deg, 0.2-5% of a 100-500 R dayside), a night glow of 0.01-1.5 R brightened towards the limb by
one of five laws (secant capped at 4, 8 or 12, its square root, or exponential in
``1 - cos``), a gradient in latitude and one in local time (up to +-60% and +-50%), Poisson
counts at 0.8-4 counts per rayleigh (``--gain``: scans less noisy than ours, where a misfit of
the background model stands out more); a ``patchy:AMPLITUDE:SCALE_PX`` law also multiplies the
night by ``1 + AMPLITUDE`` times a smooth random field of unit scatter and that correlation
length (night airglow structured on the scale of an aurora: at some amplitude it is one, and
the table says where the screen starts to call it so). Each file draws from a fixed seed, so a
run repeats. It reports, per law, the strongest feature and the scans the screen passes (its
thresholds; the detector is not run). Usage::

    python scripts/stress_backgrounds.py validation/ [--laws smooth,patchy:0.2:8] [--gain 10:40]
"""

import argparse
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from marsaurora.classify import physical_screen
from marsaurora.cli import gain_range
from marsaurora.emus import Observation, read_l2b
from marsaurora.synth.generate import read_truth

DEFAULT_LAWS = "smooth,patchy:0.1:8,patchy:0.2:8,patchy:0.2:16,patchy:0.4:8"
DEFAULT_GAIN = (0.8, 4.0)
LIMB_LAWS = ("secant, capped at 4", "secant, capped at 8", "secant, capped at 12",
             "square root of the secant", "exponential")


def redrawn_brightness(observation: Observation, law: str, rng: np.random.Generator,
                       gain: tuple[float, float] = DEFAULT_GAIN
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Brightness and Poisson errors (R) drawn by ``law`` on the observation's geometry, at
    counts per rayleigh drawn from ``gain``; the file's own brightness is kept off the disk,
    and missing pixels stay missing."""
    on_disk = observation.on_disk
    sza = np.nan_to_num(observation.sza_deg.astype(np.float64), nan=180.0)
    cos_e = np.cos(np.radians(np.minimum(np.nan_to_num(observation.emission_deg, nan=89.5),
                                         89.5)))
    lat = np.radians(np.nan_to_num(observation.lat_deg.astype(np.float64)))
    hours = np.nan_to_num(observation.local_time_h.astype(np.float64))
    dayside = rng.uniform(100.0, 500.0)
    day = dayside * np.cos(np.radians(np.minimum(sza, 90.0))) ** rng.uniform(0.5, 1.2)
    day = np.where(sza < 90.0, day, 0.0) + dayside * rng.choice([0.002, 0.01, 0.05]) * np.exp(
        -np.maximum(sza - 90.0, 0.0) / rng.choice([2.0, 5.0, 10.0, 20.0]))
    limb = (np.minimum(1 / cos_e, 4.0), np.minimum(1 / cos_e, 8.0), np.minimum(1 / cos_e, 12.0),
            1 / np.sqrt(cos_e), np.exp(1.5 * (1 - cos_e)))[rng.integers(len(LIMB_LAWS))]
    night = np.exp(rng.uniform(np.log(0.01), np.log(1.5))) * limb
    night *= 1 + rng.uniform(-0.6, 0.6) * np.sin(lat)
    night *= 1 + rng.uniform(-0.5, 0.5) * np.cos(2 * np.pi * (hours - rng.uniform(0, 24)) / 24)
    if law.startswith("patchy:"):
        amplitude, scale_px = (float(part) for part in law.split(":")[1:])
        field = cv2.GaussianBlur(rng.normal(size=observation.shape), (0, 0), scale_px / 2)
        night *= np.clip(1 + amplitude * field / max(float(field.std()), 1e-12), 0.2, None)
    truth = np.where(on_disk, day + night,
                     np.clip(np.nan_to_num(observation.brightness_r.astype(np.float64)), 0, None))
    counts_per_r = rng.uniform(*gain)
    counts = rng.poisson(counts_per_r * truth).astype(np.float64)
    missing = ~np.isfinite(observation.brightness_r)
    return (np.where(missing, np.nan, counts / counts_per_r),
            np.where(missing, np.nan, np.sqrt(counts) / counts_per_r))


def screened(path: Path, law: str, gain: tuple[float, float] = DEFAULT_GAIN
             ) -> tuple[float, bool]:
    """The strongest feature of one file redrawn by ``law`` at ``gain``, and whether the
    screen passes one of its features."""
    observation = read_l2b(path)
    rng = np.random.default_rng(zlib.crc32(f"{path.name}:{law}".encode()))
    brightness, error = redrawn_brightness(observation, law, rng, gain)
    result = physical_screen(replace(observation, brightness_r=brightness.astype(np.float32),
                                     brightness_err_r=error.astype(np.float32)))
    return (result.excess.strongest_significance,
            result.passed)


def _one(job: tuple[Path, str, tuple[float, float]]) -> tuple[float, bool]:
    return screened(*job)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="a folder made by aurora synth")
    parser.add_argument("--laws", default=DEFAULT_LAWS,
                        help="comma-separated laws: smooth, or patchy:AMPLITUDE:SCALE_PX "
                             "(default: %(default)s)")
    parser.add_argument("--gain", type=gain_range, default=DEFAULT_GAIN, metavar="LOW:HIGH",
                        help="counts per rayleigh the redrawn scans are drawn at "
                             "(default: %(default)s)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    try:
        files = [args.folder / record["file"] for record in read_truth(args.folder)]
    except FileNotFoundError as exc:
        parser.error(str(exc))
    laws = args.laws.split(",")
    for law in laws:
        if law != "smooth" and not (law.startswith("patchy:") and law.count(":") == 2):
            parser.error(f"unknown law {law!r}: use smooth or patchy:AMPLITUDE:SCALE_PX")
    print("| law | scans | strongest feature, sigma | scans the screen passes |")
    print("| --- | --- | --- | --- |")
    with ProcessPoolExecutor(args.workers) as pool:
        for law in laws:
            results = list(pool.map(_one, [(path, law, args.gain) for path in files], chunksize=4))
            print(f"| {law} | {len(results)} | {max(r[0] for r in results):.2f} "
                  f"| {sum(r[1] for r in results)} |", flush=True)


if __name__ == "__main__":
    main()
