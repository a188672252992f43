"""Draw recall against peak brightness, signal-to-noise, emission and solar zenith angle and
morphology.

Each input is the ``--json`` output of ``scripts/evaluate.py``, named by a label::

    python scripts/evaluate.py held-out/truth.jsonl held-out-run/observations.jsonl --json > h.json
    python scripts/evaluate.py ood/truth.jsonl ood-run/observations.jsonl --json > o.json
    python scripts/plot_sensitivity.py held-out=h.json ood=o.json --out docs/sensitivity.png

Bars are aurora-level recall per bin (found / injected, the counts above each
bar), side by side per evaluation; the dashed line is the 0.97 target.
"""

import argparse
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from marsaurora.evaluate import bin_order  # noqa: E402

AXES = (("peak_r", "peak brightness (intrinsic, R)"), ("snr", "signal-to-noise in its scan"),
        ("emission_deg", "emission angle at peak"), ("sza_deg", "solar zenith angle at peak"),
        ("morphology", "morphology"))
TARGET = 0.97


def main(argv: list[str] | None = None) -> int:
    """Parse ``label=file.json`` pairs and write the figure."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="label=evaluation.json")
    parser.add_argument("--out", type=Path, required=True, help="PNG to write")
    args = parser.parse_args(argv)
    runs = {}
    for item in args.runs:
        label, _, path = item.partition("=")
        if not path:
            parser.error(f"{item!r} is not label=file.json")
        runs[label] = json.loads(Path(path).read_text())
    figure, panels = plt.subplots(1, len(AXES), figsize=(23, 4.2), constrained_layout=True)
    width = 0.8 / len(runs)
    for panel, (axis, title) in zip(panels, AXES, strict=True):
        keys = sorted({key for run in runs.values() for key in run["breakdown"].get(axis, {})},
                      key=bin_order)
        for number, (label, run) in enumerate(runs.items()):
            tallies = run["breakdown"].get(axis, {})
            named = False
            for index, key in enumerate(keys):
                tally = tallies.get(key)
                if not tally or tally["recall"] is None:
                    continue
                x = index + (number - (len(runs) - 1) / 2) * width
                panel.bar(x, tally["recall"], width, color=f"C{number}",
                          label=None if named else label)
                named = True
                panel.text(x, tally["recall"] + 0.01, f"{tally['found']}/{tally['injected']}",
                           ha="center", va="bottom", fontsize=7, rotation=90)
        panel.axhline(TARGET, color="k", linestyle="--", linewidth=0.8)
        panel.set_xticks(range(len(keys)), keys, rotation=30, ha="right", fontsize=8)
        panel.set_ylim(0, 1.25)
        panel.set_ylabel("aurora recall")
        panel.set_title(title)
    handles, labels = panels[0].get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    figure.legend(unique.values(), unique.keys(), loc="outside upper center", fontsize=9,
                  ncol=len(runs))
    figure.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
