"""``aurora report DIR``: one summary figure of a run, for people who would rather look.

Three panels from ``DIR/observations.jsonl``: where the detected auroras
are on Mars (east longitude against latitude, coloured by peak brightness,
sized by area), how bright they are, and how many each observation holds
next to the run's status counts. matplotlib comes with the ``report`` extra.
"""

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from marsaurora.resume import RECORDS_FILE

REPORT_FILE = "report.png"


class ReportError(ValueError):
    """The folder holds no run to report on, or matplotlib is missing."""


def make_report(run_dir: Path) -> tuple[Path, dict[str, Any]]:
    """Draw ``run_dir/report.png``; return its path and the counts it shows."""
    records_path = run_dir / RECORDS_FILE
    if not records_path.is_file():
        raise ReportError(f"{records_path} does not exist; run `aurora run ... --out {run_dir}` "
                          "first")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.colors import LogNorm
    except ImportError as exc:
        raise ReportError("aurora report draws with matplotlib: "
                          "pip install 'marsaurora[report]'") from exc
    with records_path.open(encoding="utf-8") as lines:
        records = [json.loads(line) for line in lines if line.strip()]
    detections = [d for r in records for d in r.get("detections") or []
                  if d.get("lat_deg") is not None]
    statuses = Counter(r.get("status", "error") for r in records)
    per_observation = Counter(len(r.get("detections") or []) for r in records
                              if r.get("status") != "error")

    figure, (where, brightness, counts) = plt.subplots(
        1, 3, figsize=(16, 5.0), gridspec_kw={"width_ratios": [2.2, 1, 1]},
        layout="constrained")
    status_line = ", ".join(f"{n} {s}" for s, n in sorted(statuses.items()))
    figure.suptitle(f"{len(records)} observations ({status_line}), {len(detections)} aurora "
                    f"detections ({run_dir.name})")
    _map_panel(where, detections, LogNorm, figure)
    _brightness_panel(brightness, detections)
    _count_panel(counts, per_observation)
    out = run_dir / REPORT_FILE
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return out, {"observations": len(records), "detections": len(detections),
                 "by_status": dict(statuses)}


def _map_panel(axes: Any, detections: list[dict[str, Any]], log_norm: Any, figure: Any) -> None:
    axes.set(xlim=(0, 360), ylim=(-90, 90), xlabel="east longitude (deg)",
             ylabel="latitude (deg)", title="where: detections on Mars")
    axes.set_xticks(range(0, 361, 60))
    axes.set_yticks(range(-90, 91, 30))
    axes.grid(alpha=0.3)
    if not detections:
        axes.text(180, 0, "no detections", ha="center", va="center")
        return
    peaks = np.array([max(d.get("peak_r") or 0.1, 0.1) for d in detections])
    areas = np.array([d.get("area_km2") or 0.0 for d in detections])
    sizes = 10 + 90 * np.sqrt(areas / max(areas.max(), 1.0))
    points = axes.scatter([d["lon_deg"] for d in detections], [d["lat_deg"] for d in detections],
                          c=peaks, s=sizes, cmap="inferno", norm=log_norm(), edgecolors="k",
                          linewidths=0.3)
    figure.colorbar(points, ax=axes, label="peak brightness (R)")


def _brightness_panel(axes: Any, detections: list[dict[str, Any]]) -> None:
    from matplotlib.ticker import FixedLocator, MaxNLocator, NullFormatter, NullLocator

    axes.set(xlabel="peak brightness (R)", ylabel="detections", title="how bright",
             xscale="log")
    peaks = [d["peak_r"] for d in detections if (d.get("peak_r") or 0) > 0]
    if peaks:
        low, high = min(peaks), max(peaks) * 1.01
        axes.hist(peaks, bins=np.geomspace(low, high, 20), color="tab:orange")
        ticks = [t for t in READABLE_TICKS_R if low / 1.5 <= t <= high * 1.5] or [low, high]
        axes.xaxis.set_major_locator(FixedLocator(ticks))
        axes.set_xticklabels([f"{t:g}" for t in ticks])
        axes.xaxis.set_minor_locator(NullLocator())
        axes.xaxis.set_minor_formatter(NullFormatter())
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))


READABLE_TICKS_R = (0.1, 0.3, 1, 3, 10, 30, 100, 300, 1000)
"""Brightness ticks a third of a decade apart, so their labels never run into each other."""


def _count_panel(axes: Any, per_observation: Counter[int]) -> None:
    from matplotlib.ticker import MaxNLocator

    most = max(per_observation, default=0)
    axes.bar(range(most + 1), [per_observation.get(n, 0) for n in range(most + 1)],
             color="tab:blue")
    axes.set(xlabel="aurora detections in an observation", ylabel="observations",
             title="how many per observation")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
