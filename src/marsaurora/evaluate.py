"""How well a run found what was injected: ``truth.jsonl`` against ``observations.jsonl``.

Observation level: an observation is positive when at least one aurora was
injected, and called positive when its record's ``status`` is ``aurora``.
The screen's own recall counts true auroras it let through to the detector
(its ``candidates``), whatever the detector then said. Localisation pairs
each injected aurora with the nearest detection of the same observation and
measures the great-circle distance between the injected centroid and the
detection's catalogued position; an aurora more than ``match_deg`` from every
detection counts as missed at aurora level.

Aurora-level recall is also broken down by what the truth says of each
aurora (morphology, peak brightness, emission angle at its peak), so a weak
spot in one part of the range cannot hide behind a good total; and the
detections matched to each found aurora are counted, since one aurora should
be one catalogue row.

Where the truth gives each aurora's ``pixel_extent``, the run's screen
candidates are laid over it: how many auroras of each signal-to-noise bin lie
under a candidate, how the strongest candidate's significance compares with
the truth's signal-to-noise, and whether each reachable aurora that was missed
was lost at the screen (no candidate over it: under the screen's floor) or
after it (under a candidate that fusion did not call an aurora, or whose row
lies beyond the match distance). On data from
another generator these say whether the screen measures what its auroras hold.

Where the truth gives each aurora's brightest injected pixel (``pixel_peak_r``), the
catalogue's brightness is checked too: each found aurora's nearest row's excess at its peak
(``peak_r - background_r``) over it.
"""

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from marsaurora.image_sets import image_sets
from marsaurora.mars import MARS_RADIUS_KM

MATCH_DEG = 10.0
PIECE_MARGIN_DEG = 2.0
"""A row farther than :data:`MATCH_DEG` from every aurora's centroid is still a piece of one
when it lies within half that aurora's size (``size_km``: an arc's length, a cluster's span)
and this margin of its centroid: a long arc found in three rows is one aurora counted thrice,
not two false ones."""
PEAK_BINS_R = ((0.0, 1.0), (1.0, 2.0), (2.0, 5.0), (5.0, 10.0), (10.0, 60.0), (60.0, float("inf")))
EMISSION_BINS_DEG = ((0.0, 40.0), (40.0, 60.0), (60.0, 75.0), (75.0, 85.0), (85.0, 90.0))
SNR_BINS = ((0.0, 5.0), (5.0, 10.0), (10.0, 30.0), (30.0, float("inf")))
"""Bins of an aurora's signal-to-noise ratio in its scan (the truth's ``snr``, when it has one):
whether a miss was visible in the data at all, whatever its brightness in rayleighs."""
SZA_BINS_DEG = ((0.0, 100.0), (100.0, 110.0), (110.0, 130.0), (130.0, float("inf")))
"""Solar zenith angle bins: short of the search (under 100 deg), the terminator band where
sinuous arcs start (100-110), and the night beyond it."""
VISIBLE_SNR = 10.0
"""An aurora at this signal-to-noise or more is plainly in the data; below, even a perfect
detector would trade false alarms for it. ``recall_visible`` counts only observations with one."""
REACHABLE_SNR = 5.0
"""Under this signal-to-noise an aurora is lost in its own pixels' noise: even told where to
look, a 5-sigma test misses half of those at 5 and nearly all under 3. The share of auroras
at this or more, over more than one pixel (:func:`_reachable`), is about the most any
detector can find without false alarms (``ceiling``)."""
PEAK_WITHIN_FACTOR = 1.5
"""A row's peak is counted as right when within this factor of the injected one."""
BRIGHT_PEAK_R = 5.0
BRIGHT_MAX_EMISSION_DEG = 80.0
"""Auroras peaking at :data:`BRIGHT_PEAK_R` or more, seen at up to this emission angle: the
aurora-level target the project set itself (``bright``), whatever their signal-to-noise."""


@dataclass(frozen=True)
class Tally:
    """Auroras of one kind: how many were injected and how many a detection found."""

    injected: int = 0
    found: int = 0

    @property
    def recall(self) -> float | None:
        """Found over injected; None when none were injected."""
        return _ratio(self.found, self.injected)

    def counted(self, found: bool) -> "Tally":
        """This tally with one more aurora."""
        return Tally(self.injected + 1, self.found + int(found))

    def to_json(self) -> dict[str, Any]:
        """JSON-ready, with the recall rounded."""
        recall = self.recall
        return {"injected": self.injected, "found": self.found,
                "recall": None if recall is None else round(recall, 4)}


@dataclass(frozen=True)
class Evaluation:
    """The numbers of one evaluation; rates are None when undefined (nothing to divide by)."""

    observations: int
    errors: int
    true_positive: int
    false_positive: int
    false_negative: int
    true_negative: int
    recall: float | None
    precision: float | None
    f1: float | None
    screen_recall: float | None
    auroras_injected: int
    auroras_matched: int
    position_error_median_deg: float | None
    position_error_p90_deg: float | None
    breakdown: dict[str, dict[str, Tally]] = field(default_factory=dict)
    """Aurora-level recall by ``morphology``, and by ``peak_r``, ``emission_deg``, ``sza_deg``
    and ``snr`` bin (the bins of the fields the truth records)."""
    detections_per_found_aurora: float | None = None
    """Detections within the match distance of each found aurora, on average (1 is ideal)."""
    rows: dict[str, int] = field(default_factory=dict)
    """Catalogue rows by what they lie on: ``aurora`` (within the match distance of one),
    ``piece`` (further out, but inside a large aurora: :data:`PIECE_MARGIN_DEG`), ``none``."""
    decided_by: dict[str, int] = field(default_factory=dict)
    """How many detections each kind of evidence decided."""
    visible: Tally | None = None
    """Observations with an aurora at :data:`VISIBLE_SNR` or more, and how many were called
    aurora; None when the truth carries no ``snr``."""
    bright: Tally | None = None
    """Auroras of :data:`BRIGHT_PEAK_R` and brighter at emission angles up to
    :data:`BRIGHT_MAX_EMISSION_DEG`, and how many were found; None when none were injected."""
    ceiling: dict[str, Tally] = field(default_factory=dict)
    """How far a perfect detector could get: for ``observations`` (with an aurora) and the
    ``bright`` auroras, how many there are and how many of them are reachable
    (:func:`_reachable`); empty when the truth carries no ``snr``."""
    screened_by_snr: dict[str, Tally] = field(default_factory=dict)
    """Per signal-to-noise bin, the auroras (with ``snr`` and ``pixel_extent``) and how many
    lie under a screen candidate, whatever fusion then made of it."""
    significance_over_snr_median: float | None = None
    """Median, over auroras under a candidate, of the strongest such candidate's significance
    over the truth's signal-to-noise. The truth's ``snr`` sums the aurora's extent (the pixels
    it adds 0.5 R and a fifth of its brightest to, not its bounding box) with all the background
    under it in the noise, which a screen's feature leaves out, so a screen that measures what
    the data hold scores 1 or more; far under 1 says it misses light the truth put there."""
    peak_over_injected: dict[str, float] = field(default_factory=dict)
    """Over found auroras whose truth gives ``pixel_peak_r``: their nearest row's excess at its
    peak over that, as ``median``, ``p10``, ``p90``, the share ``within`` a factor of
    :data:`PEAK_WITHIN_FACTOR`, and how many ``rows``; empty without such auroras."""
    missed_reachable: dict[str, int] = field(default_factory=dict)
    """Reachable auroras (:func:`_reachable`) that no detection found: ``no candidate`` over
    them (lost at the screen's floor), or ``under a candidate`` (which fusion did not call an
    aurora, or whose row lies farther than the match distance)."""
    image_sets: dict[str, int] = field(default_factory=dict)
    """Per image set (:mod:`marsaurora.image_sets`, the swaths of one scan), the unit EMUS
    occurrence rates count: ``sets``, ``with_aurora`` (a file of it holds one), ``found`` (of
    those, a file of it was called an aurora) and ``false`` (called, holding none)."""

    @property
    def recall_visible(self) -> float | None:
        """Recall over the observations whose auroras are plainly in the data."""
        return None if self.visible is None else self.visible.recall

    def to_json(self) -> dict[str, Any]:
        """JSON-ready, rates rounded."""
        plain = {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()
                 if k not in ("breakdown", "visible", "bright", "ceiling", "screened_by_snr")}
        plain["peak_over_injected"] = {k: round(v, 4) for k, v in self.peak_over_injected.items()}
        plain["visible"] = None if self.visible is None else self.visible.to_json()
        plain["bright"] = None if self.bright is None else self.bright.to_json()
        plain["ceiling"] = {kind: tally.to_json() for kind, tally in self.ceiling.items()}
        plain["screened_by_snr"] = {key: tally.to_json()
                                    for key, tally in self.screened_by_snr.items()}
        plain["breakdown"] = {axis: {key: tally.to_json() for key, tally in tallies.items()}
                              for axis, tallies in self.breakdown.items()}
        return plain

    def describe(self) -> str:
        """A few lines for people."""
        def rate(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.3f}"

        return "\n".join([
            f"observations {self.observations} ({self.errors} errors): TP {self.true_positive} "
            f"FP {self.false_positive} FN {self.false_negative} TN {self.true_negative}",
            f"recall {rate(self.recall)}  precision {rate(self.precision)}  F1 {rate(self.f1)}  "
            f"screen recall {rate(self.screen_recall)}",
            *([] if self.visible is None else [
                f"recall where an aurora is at SNR >= {VISIBLE_SNR:g}: "
                f"{rate(self.recall_visible)} ({self.visible.found}/{self.visible.injected})"]),
            *([] if self.bright is None else [
                f"auroras of {BRIGHT_PEAK_R:g} R and brighter at emission angles up to "
                f"{BRIGHT_MAX_EMISSION_DEG:g} deg found: {rate(self.bright.recall)} "
                f"({self.bright.found}/{self.bright.injected})"]),
            *([] if not self.ceiling else [
                f"ceiling (share at SNR >= {REACHABLE_SNR:g} over more than one pixel, what a "
                "perfect detector finds): "
                + ", ".join(f"{kind} {rate(t.recall)} ({t.found}/{t.injected})"
                            for kind, t in self.ceiling.items())]),
            *([] if not self.screened_by_snr else [
                "auroras under a screen candidate by SNR: " + ", ".join(
                    f"{key} {rate(t.recall)} ({t.found}/{t.injected})"
                    for key, t in self.screened_by_snr.items())
                + f"; candidate significance over SNR, median "
                  f"{rate(self.significance_over_snr_median)}"]),
            *([] if not self.missed_reachable else [
                "reachable auroras missed: "
                f"{self.missed_reachable.get('no candidate', 0)} under no screen candidate, "
                f"{self.missed_reachable.get('under a candidate', 0)} under one (not called an "
                "aurora, or its row beyond the match distance)"]),
            f"auroras matched {self.auroras_matched}/{self.auroras_injected}; position error "
            f"median {rate(self.position_error_median_deg)} deg, "
            f"p90 {rate(self.position_error_p90_deg)} deg; detections per found aurora "
            f"{rate(self.detections_per_found_aurora)}",
            *([] if not self.peak_over_injected else [
                f"peak brightness of the nearest row over the injected brightest pixel "
                f"({self.peak_over_injected['rows']:.0f} auroras): median "
                f"{rate(self.peak_over_injected['median'])}, p10 "
                f"{rate(self.peak_over_injected['p10'])}, p90 "
                f"{rate(self.peak_over_injected['p90'])}; within a factor of "
                f"{PEAK_WITHIN_FACTOR:g}: {rate(self.peak_over_injected['within'])}"]),
            *([] if not self.rows else [
                f"catalogue rows {sum(self.rows.values())}: on an aurora "
                f"{self.rows.get('aurora', 0)}, on a large aurora farther from its centre "
                f"{self.rows.get('piece', 0)}, on none {self.rows.get('none', 0)}"]),
            "decided by: " + ", ".join(f"{k} {v}" for k, v in sorted(self.decided_by.items())),
            *([] if not self.image_sets else [
                f"image sets {self.image_sets['sets']}: {self.image_sets['with_aurora']} with "
                f"an aurora, {self.image_sets['found']} found (recall "
                f"{rate(_ratio(self.image_sets['found'], self.image_sets['with_aurora']))}), "
                f"{self.image_sets['false']} called on none"]),
            *(f"recall by {axis}: " + ", ".join(
                f"{key} {rate(t.recall)} ({t.found}/{t.injected})" for key, t in tallies.items())
              for axis, tallies in self.breakdown.items()),
        ])


def evaluate(truth_path: Path, records_path: Path, *, match_deg: float = MATCH_DEG) -> Evaluation:
    """Compare a run's records with the truth of the files it ran on.

    Raises
    ------
    ValueError
        When a truth file has no record (the run is incomplete or ran on other files).
    """
    truth = {t["file"]: t for t in _lines(truth_path)}
    records = {r["observation"]: r for r in _lines(records_path)}
    missing = sorted(set(truth) - set(records))
    if missing:
        raise ValueError(f"{len(missing)} files of {truth_path} have no record in {records_path}, "
                         f"e.g. {missing[0]}; run the pipeline on the folder the truth describes")
    counts = {"tp": 0, "fp": 0, "fn": 0, "tn": 0}
    screened, errors, errors_deg, injected, rows = 0, 0, [], 0, []
    breakdown: dict[str, dict[str, Tally]] = {"morphology": {}, "peak_r": {}, "emission_deg": {},
                                              "sza_deg": {}, "snr": {}}
    decided_by: dict[str, int] = {}
    row_kinds: dict[str, int] = {}
    visible: Tally | None = None
    bright = Tally()
    ceiling: dict[str, Tally] = {}
    screened_by_snr: dict[str, Tally] = {}
    significance_over_snr: list[float] = []
    missed_reachable = {"no candidate": 0, "under a candidate": 0}
    peak_ratios: list[float] = []
    for name, expected in truth.items():
        record = records[name]
        errors += record.get("status") == "error"
        positive, called = bool(expected["has_aurora"]), record.get("status") == "aurora"
        counts[("t" if positive == called else "f") + ("p" if called else "n")] += 1
        snrs = [a["snr"] for a in expected["auroras"] if isinstance(a.get("snr"), int | float)]
        if snrs:
            visible = visible or Tally()
            if max(snrs) >= VISIBLE_SNR:
                visible = visible.counted(called)
            if positive:
                ceiling["observations"] = ceiling.get("observations", Tally()).counted(
                    any(_reachable(a) for a in expected["auroras"]))
        screened += positive and bool(record.get("candidates"))
        detections = record.get("detections") or []
        for detection in detections:
            decider = str(detection.get("decided_by", "detector"))
            decided_by[decider] = decided_by.get(decider, 0) + 1
        located = [d for d in detections if d.get("lat_deg") is not None]
        separations = [[separation_deg(a["lat_deg"], a["lon_deg"], d["lat_deg"], d["lon_deg"])
                        for d in located] for a in expected["auroras"]]
        for column in range(len(located)):
            kind = _row_kind([row[column] for row in separations], expected["auroras"],
                             match_deg)
            row_kinds[kind] = row_kinds.get(kind, 0) + 1
        for aurora, distances in zip(expected["auroras"], separations, strict=True):
            injected += 1
            found = bool(distances) and min(distances) <= match_deg
            if found:
                errors_deg.append(min(distances))
                rows.append(sum(d <= match_deg for d in distances))
                ratio = _peak_ratio(aurora, located[int(np.argmin(distances))])
                if ratio is not None:
                    peak_ratios.append(ratio)
            if (aurora.get("peak_r", 0.0) >= BRIGHT_PEAK_R
                    and aurora.get("emission_deg", 90.0) <= BRIGHT_MAX_EMISSION_DEG):
                bright = bright.counted(found)
                if isinstance(aurora.get("snr"), int | float):
                    ceiling["bright"] = ceiling.get("bright", Tally()).counted(
                        _reachable(aurora))
            for axis, key in _kinds(aurora).items():
                breakdown[axis][key] = breakdown[axis].get(key, Tally()).counted(found)
            over = _candidates_over(aurora, record.get("candidates"))
            if over is None or not isinstance(aurora.get("snr"), int | float):
                continue
            key = _bin(aurora["snr"], SNR_BINS, "SNR")
            screened_by_snr[key] = screened_by_snr.get(key, Tally()).counted(bool(over))
            strongest = max((c["significance"] for c in over
                             if isinstance(c.get("significance"), int | float)), default=None)
            if strongest is not None and aurora["snr"] > 0:
                significance_over_snr.append(strongest / aurora["snr"])
            if _reachable(aurora) and not found:
                missed_reachable["under a candidate" if over else "no candidate"] += 1
    positives = counts["tp"] + counts["fn"]
    recall = _ratio(counts["tp"], positives)
    precision = _ratio(counts["tp"], counts["tp"] + counts["fp"])
    f1 = (None if recall is None or precision is None or recall + precision == 0
          else 2 * recall * precision / (recall + precision))
    return Evaluation(
        observations=len(truth), errors=errors, true_positive=counts["tp"],
        false_positive=counts["fp"], false_negative=counts["fn"], true_negative=counts["tn"],
        recall=recall, precision=precision, f1=f1, screen_recall=_ratio(screened, positives),
        auroras_injected=injected, auroras_matched=len(errors_deg),
        position_error_median_deg=float(np.median(errors_deg)) if errors_deg else None,
        position_error_p90_deg=float(np.percentile(errors_deg, 90)) if errors_deg else None,
        breakdown={axis: dict(sorted(tallies.items(), key=lambda item: bin_order(item[0])))
                   for axis, tallies in breakdown.items() if tallies},
        detections_per_found_aurora=float(np.mean(rows)) if rows else None, rows=row_kinds,
        decided_by=decided_by, visible=visible, bright=bright if bright.injected else None,
        ceiling=ceiling,
        screened_by_snr=dict(sorted(screened_by_snr.items(), key=lambda item: bin_order(item[0]))),
        significance_over_snr_median=(float(np.median(significance_over_snr))
                                      if significance_over_snr else None),
        peak_over_injected=_peak_summary(peak_ratios),
        missed_reachable=missed_reachable if screened_by_snr else {},
        image_sets=_image_set_scores(truth, records))


def _image_set_scores(truth: dict[str, dict[str, Any]],
                      records: dict[str, dict[str, Any]]) -> dict[str, int]:
    """:attr:`Evaluation.image_sets`: a set holds an aurora when one of its files does, and is
    called one when one of its files is."""
    sets = image_sets(truth)
    holding = {sets[name] for name, expected in truth.items() if expected["has_aurora"]}
    called = {sets[name] for name in truth if records[name].get("status") == "aurora"}
    return {"sets": len(set(sets.values())), "with_aurora": len(holding),
            "found": len(holding & called), "false": len(called - holding)}


def _peak_ratio(aurora: dict[str, Any], row: dict[str, Any]) -> float | None:
    """A row's excess at its peak over the aurora's brightest injected pixel; None when either
    is not given."""
    injected, peak, background = (aurora.get("pixel_peak_r"), row.get("peak_r"),
                                  row.get("background_r"))
    if not all(isinstance(v, int | float) for v in (injected, peak, background)):
        return None
    return (peak - background) / injected if injected > 0 else None


def _peak_summary(ratios: list[float]) -> dict[str, float]:
    if not ratios:
        return {}
    values = np.asarray(ratios)
    within = np.abs(np.log(np.clip(values, 1e-9, None))) <= np.log(PEAK_WITHIN_FACTOR)
    return {"median": float(np.median(values)), "p10": float(np.percentile(values, 10)),
            "p90": float(np.percentile(values, 90)), "within": float(within.mean()),
            "rows": float(values.size)}


def _reachable(aurora: dict[str, Any]) -> bool:
    """Whether a perfect detector could find ``aurora``: at :data:`REACHABLE_SNR` or more, and,
    when its truth gives a ``pixel_extent``, spread over more than one pixel. A one-pixel
    aurora is a particle hit's footprint, which every screen must reject (the project's own
    hot pixels are single pixels of 20-300 R): nothing in one scan tells the two apart."""
    snr = aurora.get("snr")
    if not isinstance(snr, int | float) or snr < REACHABLE_SNR:
        return False
    extent = aurora.get("pixel_extent")
    return not (isinstance(extent, list) and len(extent) == 4
                and extent[0] == extent[1] and extent[2] == extent[3])


def _candidates_over(aurora: dict[str, Any], candidates: Any) -> list[dict[str, Any]] | None:
    """The screen candidates whose detector ranges overlap the aurora's ``pixel_extent``
    (first and last integration, first and last slit pixel, inclusive); None when the truth
    gives no extent."""
    extent = aurora.get("pixel_extent")
    if not (isinstance(extent, list) and len(extent) == 4):
        return None
    first, last, left, right = extent
    over = []
    for candidate in candidates or []:
        if not isinstance(candidate, dict):
            continue
        rows, columns = candidate.get("integration_range"), candidate.get("slit_pixel_range")
        if (isinstance(rows, list) and isinstance(columns, list) and len(rows) == 2
                and len(columns) == 2 and rows[0] <= last and first <= rows[1]
                and columns[0] <= right and left <= columns[1]):
            over.append(candidate)
    return over


def _row_kind(distances_deg: list[float], auroras: list[dict[str, Any]],
              match_deg: float) -> str:
    """What a catalogue row lies on, from its distance to each aurora's centroid: ``aurora``,
    ``piece`` of a large one, or ``none``."""
    if any(distance <= match_deg for distance in distances_deg):
        return "aurora"
    if any(distance <= np.degrees(float(a.get("size_km", 0.0)) / 2 / MARS_RADIUS_KM)
           + PIECE_MARGIN_DEG for distance, a in zip(distances_deg, auroras, strict=True)):
        return "piece"
    return "none"


def _kinds(aurora: dict[str, Any]) -> dict[str, str]:
    """The bins an injected aurora falls in, for the fields its truth record has."""
    kinds = {}
    if "type" in aurora:
        kinds["morphology"] = str(aurora["type"]) + (f" {aurora['form']}" if aurora.get("form")
                                                     else "")
    if "peak_r" in aurora:
        kinds["peak_r"] = _bin(aurora["peak_r"], PEAK_BINS_R, "R")
    if "emission_deg" in aurora:
        kinds["emission_deg"] = _bin(aurora["emission_deg"], EMISSION_BINS_DEG, "deg")
    if "sza_deg" in aurora:
        kinds["sza_deg"] = _bin(aurora["sza_deg"], SZA_BINS_DEG, "deg")
    if isinstance(aurora.get("snr"), int | float):
        kinds["snr"] = _bin(aurora["snr"], SNR_BINS, "SNR")
    return kinds


def bin_order(key: str) -> tuple[float, str]:
    """Sort key of a breakdown bin: by its lower bound ("2-5 R" before "10-60 R"), names
    alphabetically after the numbers."""
    head = key.lstrip(">=").split("-")[0].split(" ")[0]
    try:
        return float(head), key
    except ValueError:
        return float("inf"), key


def _bin(value: float, bins: tuple[tuple[float, float], ...], unit: str) -> str:
    for low, high in bins:
        if low <= value < high:
            return f"{low:g}-{high:g} {unit}" if np.isfinite(high) else f">={low:g} {unit}"
    return f"other {unit}"


def separation_deg(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle angle between two points on a sphere, degrees."""
    phi1, lam1, phi2, lam2 = np.radians([lat1, lon1, lat2, lon2])
    cos = np.sin(phi1) * np.sin(phi2) + np.cos(phi1) * np.cos(phi2) * np.cos(lam1 - lam2)
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _lines(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise ValueError(f"{path} does not exist")
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]
