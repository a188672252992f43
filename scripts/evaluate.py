"""Recall, precision and position error of a run against the truth of its synthetic inputs.

Usage::

    aurora synth --n 300 --seed 4242 --out held-out/
    aurora run held-out/ --out held-out-run/
    python scripts/evaluate.py held-out/truth.jsonl held-out-run/observations.jsonl [--json]
"""

import argparse
import json
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
    print(json.dumps(result.to_json(), indent=2) if args.json else result.describe())
    return 0


if __name__ == "__main__":
    sys.exit(main())
