"""Occurrence rates: a known rate comes back exactly, detections outside what was observed never
count, and a real scan's coverage holds its aurora's cell and none of its dayside."""

import numpy as np

from marsaurora.emus import read_l2b
from marsaurora.image_sets import image_sets
from marsaurora.occurrence import (LON_CELLS, OccurrenceTally, cell_index, night_coverage)

A, B, C = (int(cell_index(-45.0, 185.0)), int(cell_index(-45.0, 195.0)),
           int(cell_index(60.0, 20.0)))


def record(i: int, *, aurora_every: int) -> dict:
    """Every record covers cells A and B at hours 22-23; every ``aurora_every``-th holds an
    aurora in A at 22.5 h, and each holds one outside what it covered (cell C, 3 h)."""
    detections = [{"lat_deg": 60.0, "lon_deg": 20.0, "local_time_h": 3.0}]
    if i % aurora_every == 0:
        detections.append({"lat_deg": -44.0, "lon_deg": 186.0, "local_time_h": 22.5})
    start = "2022-03-31T21:21:07" if i % 2 else "2022-09-30T00:00:00"
    return {"observation": f"{i}.fits", "status": "aurora", "start_utc": start,
            "coverage": {"cells": [A, B], "hours": [22, 23]}, "detections": detections}


def test_a_known_rate_comes_back_exactly():
    tally = OccurrenceTally().add_all(record(i, aurora_every=4) for i in range(400))
    rate = tally.cell_rate().ravel()
    assert rate[A] == 0.25 and rate[B] == 0.0
    assert np.isnan(rate[C]), "a cell never observed has no rate, whatever was detected there"
    assert np.count_nonzero(np.isfinite(rate)) == 2
    hours = tally.hour_rate()
    assert hours[22] == 0.25 and hours[23] == 0.0 and np.isnan(hours[3])
    assert tally.ls_covered.sum() == 400 and np.nansum(tally.ls_detected) == 100


def test_records_without_coverage_count_nowhere():
    tally = OccurrenceTally().add_all([{"observation": "e.fits", "status": "error"},
                                       {"observation": "old.fits", "detections": []}])
    assert tally.covered.sum() == 0 and np.isnan(tally.cell_rate()).all()


def test_cells_wrap_in_longitude_and_clip_at_the_poles():
    assert cell_index(0.0, 360.0) == cell_index(0.0, 0.0)
    assert cell_index(90.0, 5.0) == 17 * LON_CELLS and cell_index(-90.0, 355.0) == LON_CELLS - 1


def test_a_scans_coverage_holds_its_auroras_and_none_of_its_dayside(aurora_file, aurora_scene):
    observation = read_l2b(aurora_file)
    coverage = night_coverage(observation, night_sza_min_deg=100.0, night_emission_max_deg=85.0)
    for aurora in aurora_scene.auroras:
        assert int(cell_index(aurora.lat_deg, aurora.lon_deg)) in coverage["cells"]
    day = np.isfinite(observation.lat_deg) & (observation.sza_deg < 60)
    only_day = set(cell_index(observation.lat_deg[day], observation.lon_deg[day]).tolist()) - set(
        cell_index(observation.lat_deg[~day & np.isfinite(observation.lat_deg)],
                   observation.lon_deg[~day & np.isfinite(observation.lat_deg)]).tolist())
    assert not only_day & set(coverage["cells"])
    assert coverage["hours"] and all(0 <= h < 24 for h in coverage["hours"])


def test_the_image_set_rate_counts_scans_not_swath_files():
    """Two three-swath scans and a dayside file: one scan's middle swath saw an aurora, the
    other scan none; per file that would be 1 of 6 (or 7), per image set it is 1 of 2."""
    def swath(start: str, number: int, *, aurora: bool, covered: bool = True) -> dict:
        detections = [{"lat_deg": -44.0, "lon_deg": 186.0}] if aurora else []
        return {"observation": f"emm_emu_l2b_{start}_0123_os2_sw{number}of3_r_v04-01.fits.gz",
                "status": "aurora" if aurora else "no_aurora", "detections": detections,
                "coverage": {"cells": [A, B] if covered else [], "hours": [22]}}

    records = ([swath("20220331t2121{:02d}".format(7 + 3 * n), n, aurora=n == 2)
                for n in (1, 2, 3)]
               + [swath("20220401t0321{:02d}".format(7 + 3 * n), n, aurora=False)
                  for n in (1, 2, 3)]
               + [swath("20220402t110000", 1, aurora=False, covered=False)])
    assert _set_counts(records) == (2, 1)
    outside = dict(records[4], detections=[{"lat_deg": 60.0, "lon_deg": 20.0}])
    assert _set_counts(records[:4] + [outside]) == (2, 1), \
        "an aurora where the file did not look does not make its set an aurora set"
    closing = swath("20220403t010007", 3, aurora=False, covered=False)
    later = swath("20220403t020007", 2, aurora=False)
    assert _set_counts([swath("20220403t000007", 1, aurora=True), closing, later]) == (2, 1), \
        "a swath that saw no night still closes its set, as in the catalogue"


def _set_counts(records: list[dict]) -> tuple[int, int]:
    tally = OccurrenceTally().add_all(records)
    return tally.image_set_counts(image_sets(tally.night_files))
