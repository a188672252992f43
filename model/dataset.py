"""Build the YOLO training set from synthetic observations, through the real pipeline.

Each image is made the way production makes it: a synthetic L2B file is
written to disk, read back with :func:`marsaurora.emus.read_l2b` and drawn
with :func:`marsaurora.preprocess.render_heatmap`. Labels come from what the
generator injected, mapped through the heatmap's own scan-to-pixel transform:

* class 0 ``mars``: the part of the disk the scan shows;
* class 1 ``aurora``: each injected aurora's pixel extent, when it is visible
  at all (its summed excess at least :data:`MIN_LABEL_SNR` times the noise
  over its extent); fainter ones get no box, so the network is never taught
  to draw boxes on noise.

Scenes are drawn from the generator's ``train`` ranges (arcs of every width
and form, spots, patch clusters, the whole night disk to the limb and the
terminator band, varied backgrounds and noise; see
:mod:`marsaurora.synth.ranges`).

Splits are drawn from separate seeds (train, val, test), so no file appears in
two splits and the held-out set can be regenerated alone. Usage::

    python model/dataset.py --out model/data
"""

import argparse
import json
import multiprocessing
import sys
import tempfile
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from marsaurora.emus import read_l2b
from marsaurora.preprocess import HEIGHT_PX, NO_SOURCE, WIDTH_PX, Heatmap, render_heatmap
from marsaurora.runner import WorkersCannotStart, map_in_workers
from marsaurora.synth.generate import DrawingDied, SynthSpec, drawing_died, make_file

CLASS_NAMES = ("mars", "aurora")
SPLITS = ("train", "val", "test")
DEFAULT_SEEDS = {"train": 1000, "val": 1001, "test": 1002}
MIN_LABEL_SNR = 5.0
Box = tuple[float, float, float, float]
"""``(x0, y0, x1, y1)`` in heatmap pixels."""


def disk_box(heatmap: Heatmap, on_disk: np.ndarray) -> Box | None:
    """Bounding box of the heatmap pixels that show the disk, or None if none do."""
    shown = heatmap.slit_pixel != NO_SOURCE
    ys, xs = np.nonzero(shown)
    disk = on_disk[heatmap.integration[ys, xs], heatmap.slit_pixel[ys, xs]]
    if not disk.any():
        return None
    xs, ys = xs[disk], ys[disk]
    return float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)


def extent_box(heatmap: Heatmap, pixel_extent: list[int]) -> Box | None:
    """Heatmap box around an inclusive scan extent ``(i0, i1, p0, p1)``, clipped to the image."""
    first_int, last_int, first_pix, last_pix = pixel_extent
    integrations = np.array([first_int - 0.5, first_int - 0.5, last_int + 0.5, last_int + 0.5])
    slit_pixels = np.array([first_pix - 0.5, last_pix + 0.5, first_pix - 0.5, last_pix + 0.5])
    xs, ys = heatmap.to_px(integrations, slit_pixels)
    x0, x1 = np.clip([xs.min(), xs.max()], 0, WIDTH_PX)
    y0, y1 = np.clip([ys.min(), ys.max()], 0, HEIGHT_PX)
    if x1 - x0 < 1 or y1 - y0 < 1:
        return None
    return float(x0), float(y0), float(x1), float(y1)


def yolo_line(class_id: int, box: Box) -> str:
    """One YOLO label line: class and normalised centre/size."""
    x0, y0, x1, y1 = box
    return (f"{class_id} {(x0 + x1) / 2 / WIDTH_PX:.6f} {(y0 + y1) / 2 / HEIGHT_PX:.6f} "
            f"{(x1 - x0) / WIDTH_PX:.6f} {(y1 - y0) / HEIGHT_PX:.6f}")


def make_example(job: tuple[int, np.random.SeedSequence], spec: SynthSpec,
                 split_dir: Path) -> dict[str, Any]:
    """Generate, read and render one observation; write its image and label file."""
    with tempfile.TemporaryDirectory(prefix="aurora-dataset-") as scratch:
        truth = make_file(job, spec=spec, out_dir=Path(scratch))
        observation = read_l2b(Path(scratch) / truth["file"])
    heatmap = render_heatmap(observation)
    stem = f"{job[0]:05d}"
    heatmap.write_png(split_dir / "images" / f"{stem}.png")
    lines = []
    disk = disk_box(heatmap, observation.on_disk)
    if disk is not None:
        lines.append(yolo_line(0, disk))
    auroras = [extent_box(heatmap, a["pixel_extent"]) for a in truth["auroras"]
               if a["snr"] >= MIN_LABEL_SNR]
    lines += [yolo_line(1, box) for box in auroras if box is not None]
    (split_dir / "labels" / f"{stem}.txt").write_text("".join(f"{line}\n" for line in lines))
    return {"image": f"images/{stem}.png", "file": truth["file"], "scenario": truth["scenario"],
            "auroras": len([b for b in auroras if b is not None]),
            "aurora_boxes_px": [list(np.round(b, 1)) for b in auroras if b is not None]}


def build_split(split: str, n: int, seed: int, out_dir: Path, workers: int) -> Counter[str]:
    """Write ``n`` examples of one split; return counts by scenario.

    Several ``workers`` draw through the batch runner's processes, which survive a worker
    killed midway (a ``multiprocessing.Pool`` waited for its example for ever).
    """
    split_dir = out_dir / split
    for sub in ("images", "labels"):
        (split_dir / sub).mkdir(parents=True, exist_ok=True)
    spec = SynthSpec(n=n, seed=seed)
    jobs = list(enumerate(np.random.SeedSequence(seed).spawn(n)))
    work = partial(make_example, spec=spec, split_dir=split_dir)
    counts: Counter[str] = Counter()
    with (split_dir / "index.jsonl").open("w", encoding="utf-8") as index, \
            tqdm(total=n, desc=split, unit="img") as bar:
        for example in map_in_workers(work, jobs, workers, drawing_died):
            index.write(json.dumps(example) + "\n")
            counts[example["scenario"]] += 1
            counts["aurora_boxes"] += example["auroras"]
            bar.update(1)
    return counts


def write_dataset_yaml(out_dir: Path) -> Path:
    """The ultralytics dataset file, with an absolute path so it works from any folder."""
    path = out_dir / "dataset.yaml"
    names = "\n".join(f"  {i}: {name}" for i, name in enumerate(CLASS_NAMES))
    path.write_text(f"path: {out_dir.resolve()}\ntrain: train/images\nval: val/images\n"
                    f"test: test/images\nnames:\n{names}\n")
    return path


def main(argv: list[str] | None = None) -> int:
    """Command line: build every split and print what was made."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="dataset folder")
    for split, default_n in zip(SPLITS, (1500, 250, 250), strict=True):
        parser.add_argument(f"--n-{split}", type=int, default=default_n,
                            help=f"{split} images (default {default_n})")
        parser.add_argument(f"--seed-{split}", type=int, default=DEFAULT_SEEDS[split],
                            help=f"{split} seed (default {DEFAULT_SEEDS[split]})")
    parser.add_argument("--workers", type=int, default=multiprocessing.cpu_count(),
                        help="processes (default: every core)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    dataset_yaml = write_dataset_yaml(args.out)
    stats: dict[str, Any] = {}
    for split in SPLITS:
        n, seed = getattr(args, f"n_{split}"), getattr(args, f"seed_{split}")
        try:
            stats[split] = {"seed": seed, "n": n,
                            **build_split(split, n, seed, args.out, args.workers)}
        except (WorkersCannotStart, DrawingDied) as exc:
            print(f"dataset.py: {split} split: {exc}", file=sys.stderr)
            return 1
    (args.out / "stats.json").write_text(json.dumps(stats, indent=2) + "\n")
    print(f"wrote {dataset_yaml}")
    print(json.dumps(stats, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
