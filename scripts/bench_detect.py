"""Detector latency per heatmap: ONNX Runtime (float, int8; one image, a batch) vs ultralytics.

All backends run in this one process on the same heatmaps, so the ratios
compare like with like on whatever machine runs it. Usage::

    python scripts/bench_detect.py --n 24 --repeat 3 [--json]
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from marsaurora.detect import Detector, DetectorOptions, shipped_model
from marsaurora.emus import read_l2b
from marsaurora.preprocess import render_heatmap
from marsaurora.synth.generate import SynthSpec, generate


def heatmaps(n: int, seed: int) -> list[np.ndarray]:
    """``n`` heatmaps of synthetic aurora observations."""
    with tempfile.TemporaryDirectory(prefix="bench-detect-") as folder:
        spec = SynthSpec(n=n, seed=seed, scenarios=("aurora",), compress=False)
        return [render_heatmap(read_l2b(Path(folder) / r["file"])).rgb
                for r in generate(spec, Path(folder))]


def per_image_ms(detector: Detector, images: list[np.ndarray], batch: int,
                 repeat: int) -> list[float]:
    """Wall time per image for each batch, after one warm-up batch."""
    detector.detect(images[:batch])
    samples = []
    for _ in range(repeat):
        for start in range(0, len(images), batch):
            chunk = images[start:start + batch]
            began = time.perf_counter()
            detector.detect(chunk)
            samples.append((time.perf_counter() - began) * 1000 / len(chunk))
    return samples


def main(argv: list[str] | None = None) -> int:
    """Print one row per backend and batch size, with the ratio to ultralytics."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=24, help="heatmaps (default 24)")
    parser.add_argument("--repeat", type=int, default=3, help="passes over them (default 3)")
    parser.add_argument("--seed", type=int, default=606)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    images = heatmaps(args.n, args.seed)
    cases = [("onnx", 1, shipped_model("onnx")), ("onnx", 8, shipped_model("onnx")),
             ("onnx-int8", 1, shipped_model("onnx", "int8")),
             ("onnx-int8", 8, shipped_model("onnx", "int8"))]
    try:
        import ultralytics  # noqa: F401

        cases.append(("ultralytics", 1, shipped_model("ultralytics")))
    except ImportError:
        print("ultralytics not installed: its row is skipped", file=sys.stderr)
    rows = []
    for backend, batch, path in cases:
        detector = Detector(DetectorOptions(model_path=path, backend=backend.split("-")[0],
                                            device="cpu"))
        samples = per_image_ms(detector, images, batch, args.repeat)
        rows.append({"backend": backend, "batch": batch,
                     "median_ms": round(statistics.median(samples), 1),
                     "p95_ms": round(float(np.percentile(samples, 95)), 1)})
    reference = next((r["median_ms"] for r in rows if r["backend"] == "ultralytics"), None)
    for row in rows:
        row["speedup_vs_ultralytics"] = (round(reference / row["median_ms"], 2)
                                         if reference else None)
    if args.json:
        print(json.dumps({"cpus": os.cpu_count(), "rows": rows}, indent=2))
        return 0
    print(f"{'backend':12} {'batch':>5} {'median ms/img':>14} {'p95 ms/img':>11} "
          f"{'vs ultralytics':>15}   ({args.n} heatmaps x {args.repeat}, {os.cpu_count()} CPUs)")
    for row in rows:
        ratio = row["speedup_vs_ultralytics"]
        print(f"{row['backend']:12} {row['batch']:>5} {row['median_ms']:>14} {row['p95_ms']:>11} "
              f"{(f'{ratio}x' if ratio else '-'):>15}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
