"""How often aurora is seen where it could have been: occurrence per place, hour and season.

A map of detections over-counts what the orbit happened to look at often.
EMUS aurora studies (Lillis et al. 2022) therefore normalise: of the
observations that saw a place on the nightside, in what fraction was an
aurora detected there. Each record carries what its scan covered
(:func:`night_coverage`: the lat/lon cells and local-time hours of its
searched night disk, the same region the physical screen looks in), so the
rates need only the records, one at a time (:class:`OccurrenceTally`), never
the scans.

Cells are :data:`CELL_DEG` square in latitude and east longitude; an aurora
counts in the cell of its centroid, once per observation, and only where that
observation covered the cell (so a rate never passes 1).

Lillis et al. give their headline rate per image set, not per file: of the disk images
that saw the night side, the fraction with an aurora. The swath files of an ``os2`` set
each cover part of the disk, so the tally keeps one flag per file and counts them by the
sets the caller groups them into (:mod:`marsaurora.image_sets`): a set saw the night disk
when one of its files did, and holds an aurora when one of them detected one there.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from marsaurora.emus import Observation
from marsaurora.mars_time import solar_longitude_deg

CELL_DEG = 10.0
LAT_CELLS = int(180 / CELL_DEG)
LON_CELLS = int(360 / CELL_DEG)
LS_BIN_DEG = 30.0
LS_BINS = int(360 / LS_BIN_DEG)
HOURS = 24


def cell_index(lat_deg: np.ndarray | float, lon_deg: np.ndarray | float) -> np.ndarray:
    """The cell of each (latitude, east longitude): ``lat row * LON_CELLS + lon column``."""
    row = np.clip(((np.asarray(lat_deg) + 90.0) // CELL_DEG).astype(int), 0, LAT_CELLS - 1)
    column = (np.asarray(lon_deg) % 360.0 // CELL_DEG).astype(int) % LON_CELLS
    return row * LON_CELLS + column


def night_coverage(observation: Observation, *, night_sza_min_deg: float,
                   night_emission_max_deg: float) -> dict[str, list[int]]:
    """The cells and local-time hours a scan saw on the night disk where auroras are searched.

    Pixels count when their brightness is finite, their solar zenith angle
    at least ``night_sza_min_deg`` and their emission angle at most
    ``night_emission_max_deg`` (the physical screen's region).
    """
    seen = (np.isfinite(observation.brightness_r) & np.isfinite(observation.lat_deg)
            & (observation.sza_deg >= night_sza_min_deg)
            & (observation.emission_deg <= night_emission_max_deg))
    if not seen.any():
        return {"cells": [], "hours": []}
    cells = np.unique(cell_index(observation.lat_deg[seen], observation.lon_deg[seen]))
    local = observation.local_time_h[seen]
    hours = np.unique(np.floor(local[np.isfinite(local)]).astype(int) % HOURS)
    return {"cells": cells.tolist(), "hours": hours.tolist()}


@dataclass
class OccurrenceTally:
    """Observations that covered, and observations that detected, per cell, hour and Ls bin."""

    covered: np.ndarray = field(default_factory=lambda: np.zeros(LAT_CELLS * LON_CELLS, int))
    detected: np.ndarray = field(default_factory=lambda: np.zeros(LAT_CELLS * LON_CELLS, int))
    hours_covered: np.ndarray = field(default_factory=lambda: np.zeros(HOURS, int))
    hours_detected: np.ndarray = field(default_factory=lambda: np.zeros(HOURS, int))
    ls_covered: np.ndarray = field(default_factory=lambda: np.zeros(LS_BINS, int))
    ls_detected: np.ndarray = field(default_factory=lambda: np.zeros(LS_BINS, int))
    night_files: dict[str, bool | None] = field(default_factory=dict)
    """Every record's file: None when it did not cover the night disk, else whether it detected
    an aurora there. Every file, not only those that saw the night: a swath that did not still
    closes its set, and the sets must be those the catalogue names."""

    def add(self, record: dict[str, Any]) -> None:
        """Count one record; records without coverage (errors, older runs) count nowhere."""
        name = record.get("observation")
        coverage = record.get("coverage")
        if not coverage or not coverage.get("cells"):
            if name:
                self.night_files.setdefault(name, None)
            return
        cells = np.asarray(coverage["cells"], int)
        hours = np.asarray(coverage.get("hours") or [], int)
        self.covered[cells] += 1
        self.hours_covered[hours] += 1
        auroras = [d for d in record.get("detections") or []
                   if d.get("lat_deg") is not None and d.get("lon_deg") is not None]
        hit_cells = set(cell_index([d["lat_deg"] for d in auroras],
                                   [d["lon_deg"] for d in auroras]).tolist()) & set(cells.tolist())
        self.detected[list(hit_cells)] += 1
        hit_hours = {int(d["local_time_h"]) % HOURS for d in auroras
                     if d.get("local_time_h") is not None} & set(hours.tolist())
        self.hours_detected[list(hit_hours)] += 1
        if name:
            self.night_files[name] = bool(self.night_files.get(name)) or bool(hit_cells)
        ls = _ls_of(record)
        if ls is not None:
            index = int(ls // LS_BIN_DEG) % LS_BINS
            self.ls_covered[index] += 1
            self.ls_detected[index] += bool(hit_cells)

    def add_all(self, records: Iterable[dict[str, Any]]) -> "OccurrenceTally":
        """Count every record; returns the tally."""
        for record in records:
            self.add(record)
        return self

    def cell_rate(self) -> np.ndarray:
        """``(LAT_CELLS, LON_CELLS)`` detected / covered, NaN where nothing was covered."""
        return _ratio(self.detected, self.covered).reshape(LAT_CELLS, LON_CELLS)

    def hour_rate(self) -> np.ndarray:
        """Rate per local-time hour (0-23), NaN where never covered."""
        return _ratio(self.hours_detected, self.hours_covered)

    def ls_rate(self) -> np.ndarray:
        """Rate per :data:`LS_BIN_DEG` bin of solar longitude, NaN where never covered."""
        return _ratio(self.ls_detected, self.ls_covered)

    def image_set_counts(self, sets: Mapping[str, str]) -> tuple[int, int]:
        """How many image sets saw the night disk, and how many of them hold an aurora;
        ``sets`` is :func:`marsaurora.image_sets.image_sets` of :attr:`night_files`, made once
        by the caller, which also shows it."""
        sets_detected: dict[str, bool] = {}
        for name, detected in self.night_files.items():
            if detected is not None:
                sets_detected[sets[name]] = sets_detected.get(sets[name], False) or detected
        return len(sets_detected), sum(sets_detected.values())


def _ratio(hits: np.ndarray, total: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, hits / np.maximum(total, 1), np.nan)


def _ls_of(record: dict[str, Any]) -> float | None:
    start = record.get("start_utc")
    if not start:
        return None
    try:
        return solar_longitude_deg(datetime.fromisoformat(start))
    except ValueError:
        return None
