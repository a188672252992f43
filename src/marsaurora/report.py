"""``aurora report DIR``: a run's summary figure and its review page, for those who look.

The review page (:mod:`marsaurora.review`, ``DIR/report/index.html``) shows
the figure with every detection, error and doubtful result. The figure has six
panels from ``DIR/observations.jsonl``. Top: where the detected auroras
are on Mars (east longitude against latitude, coloured by peak brightness,
sized by area), how bright they are, and how many each observation holds.
Bottom: occurrence rates (:mod:`marsaurora.occurrence`), the fraction of the
observations that saw a place, a local-time hour or a season on the night
disk in which an aurora was detected there; the title adds the rate per image set
(the swaths of one scan), the figure EMUS studies quote. The records are read one
at a time: memory grows with the number of detections and keeps one name per
observation. matplotlib comes with the ``report`` extra.
"""

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from marsaurora.image_sets import image_sets
from marsaurora.occurrence import CELL_DEG, LS_BIN_DEG, OccurrenceTally
from marsaurora.resume import RECORDS_FILE, RunFolder, RunFolderError
from marsaurora.review import ReviewPage

REPORT_FILE = "report.png"


class ReportError(ValueError):
    """The folder holds no run to report on, or matplotlib is missing."""


def make_report(run_dir: Path) -> tuple[Path, Path, dict[str, Any]]:
    """Draw ``run_dir/report.png`` and write the review page.

    Returns the figure's path, the page's ``index.html`` and the counts shown.
    """
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
    detections: list[dict[str, Any]] = []
    statuses: Counter[str] = Counter()
    per_observation: Counter[int] = Counter()
    occurrence = OccurrenceTally()
    page = ReviewPage(run_dir, REPORT_FILE)
    try:
        for record in RunFolder(run_dir).records():
            statuses[record.get("status", "error")] += 1
            if record.get("status") != "error":
                per_observation[len(record.get("detections") or [])] += 1
            detections.extend({key: d.get(key) for key in _DRAWN}
                              for d in record.get("detections") or []
                              if d.get("lat_deg") is not None)
            occurrence.add(record)
            page.add(record)
    except RunFolderError as exc:
        page.abandon()
        raise ReportError(str(exc)) from None
    total = sum(statuses.values())

    figure, ((where, brightness, counts), (rate_map, by_hour, by_season)) = plt.subplots(
        2, 3, figsize=(16, 9.5), gridspec_kw={"width_ratios": [2.2, 1, 1]},
        layout="constrained")
    status_line = ", ".join(f"{n} {s}" for s, n in sorted(statuses.items()))
    sets = image_sets(occurrence.night_files)
    sets_seen, sets_with_aurora = occurrence.image_set_counts(sets)
    summary = (f"{total} observations ({status_line}), {len(detections)} aurora "
               f"detections; {image_set_line(sets_seen, sets_with_aurora)}")
    figure.suptitle(f"{summary} ({run_dir.name})")
    _map_panel(where, detections, LogNorm, figure)
    _brightness_panel(brightness, detections)
    _count_panel(counts, per_observation)
    _rate_map_panel(rate_map, occurrence, figure)
    _rate_panel(by_hour, occurrence.hour_rate(), occurrence.hours_covered, 1.0,
                "local time (h)", "occurrence by local time", range(0, 25, 6))
    _rate_panel(by_season, occurrence.ls_rate(), occurrence.ls_covered, LS_BIN_DEG,
                "solar longitude Ls (deg)", "occurrence by season", range(0, 361, 90))
    out = run_dir / REPORT_FILE
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return out, page.close(summary, sets), {"observations": total, "detections": len(detections),
                 "by_status": dict(statuses), "image_sets_night": sets_seen,
                 "image_sets_with_aurora": sets_with_aurora}


def image_set_line(sets_seen: int, sets_with_aurora: int) -> str:
    """The per-image-set rate in words: ``4 image sets saw the night disk, 3 with an aurora
    (75%)``."""
    if not sets_seen:
        return "no image set saw the night disk"
    return (f"{sets_seen} image set{'s' if sets_seen != 1 else ''} saw the night disk, "
            f"{sets_with_aurora} with an aurora ({sets_with_aurora / sets_seen:.0%})")


_DRAWN = ("lat_deg", "lon_deg", "peak_r", "area_km2")
"""What the figure needs of each detection (kept, so a long run holds little)."""


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
    bar = figure.colorbar(points, ax=axes, label="peak brightness (R)")
    _readable_log_axis(bar.ax.yaxis, float(peaks.min()), float(peaks.max()))


def _brightness_panel(axes: Any, detections: list[dict[str, Any]]) -> None:
    from matplotlib.ticker import MaxNLocator

    axes.set(xlabel="peak brightness (R)", ylabel="detections", title="how bright",
             xscale="log")
    peaks = [d["peak_r"] for d in detections if (d.get("peak_r") or 0) > 0]
    if peaks:
        low, high = min(peaks), max(peaks) * 1.01
        axes.hist(peaks, bins=np.geomspace(low, high, 20), color="tab:orange")
        _readable_log_axis(axes.xaxis, low, high)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))


def _readable_log_axis(axis: Any, low: float, high: float) -> None:
    """Log-scale ticks from :data:`READABLE_TICKS_R` written plainly (10, not 1e1); no minor
    labels."""
    from matplotlib.ticker import FixedFormatter, FixedLocator, NullFormatter, NullLocator

    ticks = [t for t in READABLE_TICKS_R if low / 1.5 <= t <= high * 1.5] or [low, high]
    axis.set_major_locator(FixedLocator(ticks))
    axis.set_major_formatter(FixedFormatter([f"{t:.3g}" for t in ticks]))
    axis.set_minor_locator(NullLocator())
    axis.set_minor_formatter(NullFormatter())


def _rate_map_panel(axes: Any, occurrence: OccurrenceTally, figure: Any) -> None:
    axes.set(xlim=(0, 360), ylim=(-90, 90), xlabel="east longitude (deg)",
             ylabel="latitude (deg)",
             title="occurrence: detected / observed on the night disk, per cell")
    axes.set_xticks(range(0, 361, 60))
    axes.set_yticks(range(-90, 91, 30))
    rate = np.ma.masked_invalid(occurrence.cell_rate())
    if rate.count() == 0:
        axes.text(180, 0, "no night coverage recorded", ha="center", va="center")
        return
    mesh = axes.pcolormesh(np.arange(0, 361, CELL_DEG), np.arange(-90, 91, CELL_DEG), rate,
                           cmap="viridis", vmin=0.0, vmax=max(float(rate.max()), 0.01))
    figure.colorbar(mesh, ax=axes, label="occurrence rate (grey: never observed)")
    axes.set_facecolor("0.85")


def _rate_panel(axes: Any, rate: np.ndarray, covered: np.ndarray, width: float, label: str,
                title: str, ticks: range) -> None:
    from matplotlib.ticker import FixedLocator

    starts = np.arange(len(rate)) * width
    axes.bar(starts, np.nan_to_num(rate), width=width * 0.9, align="edge", color="tab:green")
    axes.set(xlabel=label, ylabel="occurrence rate (grey: never observed)", title=title,
             xlim=(0, len(rate) * width),
             ylim=(0, max(0.05, float(np.nanmax(rate, initial=0.0)) * 1.15)))
    axes.xaxis.set_major_locator(FixedLocator(list(ticks)))
    for start, n in zip(starts, covered, strict=True):
        if not n:
            axes.axvspan(start, start + width, color="0.85", lw=0)


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
