"""Train the aurora detector from scratch, evaluate it on the test split, export it.

Runs with no network: ultralytics is told to stay offline before it is
imported, gets a private settings folder with a bundled font standing in for
the ``Arial.ttf`` it would otherwise download, and never syncs. Nothing comes
from outside: the network is built from ``--cfg`` (a model yaml), or
fine-tuned from one of our own checkpoints (``--init``), and learns only from
our synthetic set. A run cut short continues from its ``last.pt`` with
``--resume``. Usage (the shipped weights' exact commands are in
``model/MODEL_CARD.md``)::

    python model/train.py --data model/data/dataset.yaml --epochs 40 --imgsz 416
    python model/train.py --data model/data/dataset.yaml --init model/weights/aurora-yolo11n.pt
    python model/train.py --data model/data/dataset.yaml --resume

Writes ``<out>/<name>.pt``, ``<out>/<name>.onnx`` and ``<out>/<name>.metrics.json``.
"""

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def offline_ultralytics(config_dir: Path) -> None:
    """Point ultralytics at a local settings folder and forbid downloads and installs.

    Must run before ``import ultralytics``: it reads these at import time.
    """
    config_dir.mkdir(parents=True, exist_ok=True)
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "False"
    os.environ["YOLO_CONFIG_DIR"] = str(config_dir)
    font = config_dir / "Arial.ttf"
    if not font.exists():
        shutil.copyfile(_bundled_font(), font)


def _bundled_font() -> Path:
    """A TrueType font that ships with matplotlib (an ultralytics dependency)."""
    import matplotlib

    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    if not path.exists():
        raise FileNotFoundError(f"no bundled font at {path}; copy any .ttf there as Arial.ttf")
    return path


def train(args: argparse.Namespace) -> dict[str, Any]:
    """Train, test and export; return the metrics written next to the weights."""
    offline_ultralytics(args.config_dir)
    import torch
    from ultralytics import YOLO, settings

    if args.threads:
        torch.set_num_threads(args.threads)

    settings.update({"sync": False})
    run_dir = args.runs / args.name
    last = run_dir / "weights" / "last.pt"
    start = time.perf_counter()
    if args.resume:
        if not last.is_file():
            raise FileNotFoundError(f"nothing to resume: {last} does not exist; start a run "
                                    "without --resume")
        _take_recorded_arguments(args, torch.load(last, map_location="cpu",
                                                  weights_only=False).get("train_args", {}))
        YOLO(str(last)).train(resume=True)
    else:
        model = YOLO(str(args.init) if args.init else args.cfg, task="detect")
        model.train(
            data=str(args.data.resolve()), epochs=args.epochs, imgsz=args.imgsz,
            batch=args.batch, device=args.device, workers=args.workers, seed=args.seed,
            deterministic=True, pretrained=bool(args.init), project=str(args.runs.resolve()),
            name=args.name, exist_ok=True, amp=False, plots=False,
            close_mosaic=max(1, args.epochs // 5), hsv_h=0.0, hsv_s=0.0, hsv_v=0.1,
            flipud=0.5, fliplr=0.5, patience=args.epochs, verbose=False)
    train_s = time.perf_counter() - start
    best = run_dir / "weights" / "best.pt"
    args.out.mkdir(parents=True, exist_ok=True)
    weights = args.out / f"{args.name}.pt"
    shutil.copyfile(best, weights)
    tested = YOLO(str(weights)).val(data=str(args.data.resolve()), split="test", imgsz=args.imgsz,
                                    batch=args.batch, device=args.device, plots=False,
                                    project=str(args.runs.resolve()), name=f"{args.name}-test",
                                    exist_ok=True, verbose=False)
    exported = YOLO(str(weights)).export(format="onnx", imgsz=args.imgsz, dynamic=True,
                                         simplify=True, device=args.device)
    onnx_path = args.out / f"{args.name}.onnx"
    shutil.move(exported, onnx_path)
    metrics = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "cfg": args.cfg, "init": str(args.init) if args.init else None,
        "resumed_from": str(last) if args.resume else None,
        "epochs": args.epochs, "imgsz": args.imgsz, "batch": args.batch,
        "seed": args.seed, "train_seconds": round(train_s, 1),
        "classes": list(tested.names.values()),
        "test": _per_class(tested),
        "weights": {"pt": weights.name, "onnx": onnx_path.name,
                    "pt_bytes": weights.stat().st_size, "onnx_bytes": onnx_path.stat().st_size},
    }
    (args.out / f"{args.name}.metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def _take_recorded_arguments(args: argparse.Namespace, recorded: dict[str, Any]) -> None:
    """On --resume, ultralytics continues with the run's own settings, not this command's:
    take them into ``args`` so that the test and the metrics file describe the run."""
    for name in ("epochs", "imgsz", "batch", "seed"):
        if name in recorded:
            setattr(args, name, recorded[name])


def _per_class(validation: Any) -> dict[str, dict[str, float]]:
    """mAP50, mAP50-95, precision and recall overall and per class, from ultralytics' metrics."""
    box = validation.box
    result = {"all": {"mAP50": box.map50, "mAP50-95": box.map, "precision": box.mp,
                      "recall": box.mr}}
    for index, class_id in enumerate(validation.ap_class_index):
        precision, recall, map50, map50_95 = box.class_result(index)
        result[validation.names[int(class_id)]] = {"mAP50": map50, "mAP50-95": map50_95,
                                                   "precision": precision, "recall": recall}
    return {name: {k: round(float(v), 4) for k, v in values.items()}
            for name, values in result.items()}


def build_parser() -> argparse.ArgumentParser:
    """Command-line options, with the defaults the shipped weights were trained with."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True,
                        help="dataset.yaml written by model/dataset.py")
    parser.add_argument("--cfg", default="yolo11n.yaml",
                        help="model yaml (ultralytics built-in name or a path); default yolo11n")
    parser.add_argument("--init", type=Path, default=None,
                        help="fine-tune from this checkpoint instead of starting from --cfg")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run --name from its last.pt (after an interruption)")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--imgsz", type=int, default=416)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    parser.add_argument("--device", default="cpu", help="cpu, or a CUDA index such as 0")
    parser.add_argument("--workers", type=int, default=2,
                        help="data-loading processes (ultralytics uses none on the CPU)")
    parser.add_argument("--threads", type=int, default=0,
                        help="PyTorch CPU threads; 0 keeps its choice (one per physical core, "
                             "which is one on some 2-vCPU machines)")
    parser.add_argument("--name", default="aurora-yolo11n", help="run and weights name")
    parser.add_argument("--out", type=Path, default=HERE / "weights",
                        help="where the weights go (model/weights/, shipped as package data)")
    parser.add_argument("--runs", type=Path, default=HERE / "runs",
                        help="ultralytics run folder (checkpoints, logs)")
    parser.add_argument("--config-dir", type=Path, default=HERE / "runs" / "ultralytics-config",
                        help="private ultralytics settings folder")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Train from the command line and print the test metrics."""
    metrics = train(build_parser().parse_args(argv))
    print(json.dumps(metrics, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
