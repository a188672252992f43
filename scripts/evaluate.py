"""Recall, precision and position error of a run against the truth of its synthetic inputs.

Two sets, both never used to train or to choose a threshold: a held-out set
from the training ranges, and an out-of-distribution set whose generator
settings lie outside them (other arc and spot widths, exponential and
flat-topped profiles, auroras crowded to the limb and the terminator,
brighter and lumpier night glow, steeper limb brightening, noisier counts;
``marsaurora.synth.ranges.OOD``). Their seeds and settings were fixed before
any result was looked at. Usage::

    aurora synth --n 300 --seed 4242 --out held-out/
    aurora synth --n 300 --seed 9001 --ranges ood --out ood/
    aurora run held-out/ --out held-out-run/
    aurora run ood/ --out ood-run/
    python scripts/evaluate.py held-out/truth.jsonl held-out-run/observations.jsonl [--json]
    python scripts/evaluate.py ood/truth.jsonl ood-run/observations.jsonl

Besides the totals it prints aurora-level recall by morphology, by peak
brightness, by emission angle and by solar zenith angle (the terminator
band, 100-110 deg, on its own), the detections per found aurora (one
aurora should be one row) and which evidence decided each detection. Where
the truth gives pixel extents it also lays the screen's candidates over the
auroras: the share under a candidate per signal-to-noise bin, the candidates'
significance over the truth's signal-to-noise, and whether each reachable
aurora missed was under a candidate or under none.
"""

import argparse
import json
import os
import sys
from pathlib import Path

from marsaurora.evaluate import MATCH_DEG, evaluate


def main(argv: list[str] | None = None) -> int:
    """Print the evaluation; exit 2 when the files do not fit together."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("truth", type=Path, help="truth.jsonl written by aurora synth")
    parser.add_argument("records", type=Path, help="observations.jsonl written by aurora run")
    parser.add_argument("--match-deg", type=float, default=MATCH_DEG,
                        help=f"farthest a detection may be from an injected aurora and still "
                             f"find it (default {MATCH_DEG})")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    args = parser.parse_args(argv)
    try:
        result = evaluate(args.truth, args.records, match_deg=args.match_deg)
    except ValueError as exc:
        print(f"evaluate: {exc}", file=sys.stderr)
        return 2
    try:
        print(json.dumps(result.to_json(), indent=2) if args.json else result.describe(),
              flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())
