"""Detections mapped back onto Mars, and the catalogue files."""

import dataclasses
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

from marsaurora.catalog import (CATALOG_COLUMNS, _longitude_span, catalog_auroras, locate,
                                locate_feature, write_catalog)
from marsaurora.classify import PhysicalScreenParams
from marsaurora.classify.excess import excess_map
from marsaurora.detect import Detection
from marsaurora.emus import read_l2b
from marsaurora.evaluate import separation_deg
from marsaurora.fusion import fuse
from marsaurora.preprocess import render_heatmap

from helpers import write_jsonl
from scans import SHAPE, night_scan

ROOT = Path(__file__).resolve().parents[1]


def _model_dataset():
    """``model/dataset.py``, which turns injected truth into heatmap boxes."""
    spec = importlib.util.spec_from_file_location("model_dataset", ROOT / "model" / "dataset.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def scan(aurora_file):
    observation = read_l2b(aurora_file)
    return observation, render_heatmap(observation)


def _truth_detections(scene, heatmap) -> list[Detection]:
    dataset = _model_dataset()
    return [Detection("aurora", 0.9, dataset.extent_box(heatmap, list(a.pixel_extent)))
            for a in scene.auroras]


def test_a_box_around_an_injected_aurora_lands_where_it_was_put(scan, aurora_scene):
    observation, heatmap = scan
    for truth, detection in zip(aurora_scene.auroras,
                                _truth_detections(aurora_scene, heatmap), strict=True):
        where = locate(observation, heatmap, detection)
        assert separation_deg(where.lat_deg, where.lon_deg, truth.lat_deg, truth.lon_deg) < 3.0
        assert where.sza_deg > 100 and 0 <= where.local_time_h < 24
        assert 0 <= where.emission_deg < 90
        assert where.area_km2 > 0 and where.n_pixels > 0
        assert where.peak_r > 0.5 * truth.peak_r > where.background_r
        assert where.background_r <= where.mean_r <= where.peak_r


def test_a_hot_pixel_in_the_box_neither_moves_it_nor_claims_the_peak(scan, aurora_scene):
    observation, heatmap = scan
    detection = _truth_detections(aurora_scene, heatmap)[0]
    before = locate(observation, heatmap, detection)
    first_int, _, first_pix, _ = aurora_scene.auroras[0].pixel_extent
    brightness = observation.brightness_r.copy()
    brightness[first_int, first_pix] = 5000.0
    spiked = dataclasses.replace(observation, brightness_r=brightness)
    after = locate(spiked, heatmap, detection)
    assert after.peak_r < 1000
    assert separation_deg(after.lat_deg, after.lon_deg, before.lat_deg, before.lon_deg) < 0.5


def test_a_box_off_the_disk_has_no_position(scan):
    observation, heatmap = scan
    where = locate(observation, heatmap, Detection("aurora", 0.5, (0.0, 0.0, 20.0, 20.0)))
    assert where.n_pixels == 0
    record = where.to_record()
    assert record["lat_deg"] is None and record["area_km2"] is None


def test_each_feature_lands_where_the_aurora_was_put_with_its_extent(scan, aurora_scene):
    observation, _ = scan
    excess = excess_map(observation)
    for truth in aurora_scene.auroras:
        feature = next(f for f in excess.features
                       if excess.labels[truth.peak_pixel] == f.label)
        where = locate_feature(observation, excess, feature)
        assert separation_deg(where.lat_deg, where.lon_deg, truth.lat_deg, truth.lon_deg) < 3.0
        assert where.lat_min_deg <= where.lat_deg <= where.lat_max_deg
        assert where.peak_r > where.background_r and where.area_km2 > 0


def test_a_compact_spot_keeps_its_peak_and_a_hot_pixel_beside_it_does_not_claim_it():
    """A 2 x 2 pixel spot of 30 R: the 3x3 median around any of its pixels is mostly the night
    around it (it read 0.5 R of excess), the brightest touching pair is the spot's own. A
    hot pixel of 500 R on its edge has no bright partner of its own brightness."""
    extra = np.zeros(SHAPE)
    extra[60:62, 64:66] = 30.0
    for hot_r in (0.0, 500.0):
        extra[59, 64] = hot_r
        observation = night_scan(0.5, 8, extra_r=extra, gain=8.0)
        excess = excess_map(observation)
        feature = next(f for f in excess.features if excess.labels[60, 64] == f.label)
        where = locate_feature(observation, excess, feature)
        assert where.peak_r - where.background_r == pytest.approx(30.0, rel=0.25), hot_r


def test_the_longitude_span_takes_the_short_way_round():
    assert _longitude_span(np.array([10.0, 20.0, 15.0])) == (10.0, 20.0)
    assert _longitude_span(np.array([350.0, 5.0, 355.0, 2.0])) == (350.0, 5.0)


def test_catalogue_files_round_trip_with_units(scan, aurora_scene, tmp_path):
    observation, heatmap = scan
    params = PhysicalScreenParams()
    excess = excess_map(observation, params.excess)
    fusion = fuse(excess, heatmap, _truth_detections(aurora_scene, heatmap),
                  physical_evidence=True, candidate=params.is_candidate)
    detections, flagged = catalog_auroras(observation, heatmap, excess, fusion)
    assert not flagged
    records = [{"observation": "a.fits", "orbit": 12, "start_utc": "2022-01-01T00:00:00",
                "status": "aurora", "detections": detections},
               {"observation": "b.fits", "status": "error", "detections": []}]
    path = write_jsonl(tmp_path / "observations.jsonl", records)
    ecsv, csv, _ = write_catalog(path, tmp_path)
    table = Table.read(ecsv, format="ascii.ecsv")
    assert len(table) == len(aurora_scene.auroras)
    assert table.colnames == [name for name, _, _ in CATALOG_COLUMNS]
    assert str(table["lat_deg"].unit) == "deg" and str(table["area_km2"].unit) == "km2"
    np.testing.assert_allclose(table["lat_deg"], [d["lat_deg"] for d in detections])
    plain = Table.read(csv, format="ascii.csv")
    assert list(plain["observation"]) == ["a.fits"] * len(detections)


def test_a_run_without_detections_writes_an_empty_catalogue(tmp_path):
    path = tmp_path / "observations.jsonl"
    path.write_text(json.dumps({"observation": "x.fits", "detections": []}) + "\n")
    ecsv, _, _ = write_catalog(path, tmp_path)
    table = Table.read(ecsv, format="ascii.ecsv")
    assert len(table) == 0 and "lat_deg" in table.colnames


def test_a_box_through_its_record_locates_like_the_box_itself(scan, aurora_scene):
    """The catalog stage gets boxes from events (0.1 px); in process detect_step hands on the
    same rounding (Detection.as_recorded)."""
    observation, heatmap = scan
    for exact in _truth_detections(aurora_scene, heatmap):
        nudged = Detection("aurora", 0.9, tuple(float(int(v)) + 0.97 for v in exact.box_px))
        record = nudged.to_record()
        through_event = Detection(record["label"], record["confidence"],
                                  tuple(record["box_px"]))
        assert locate(observation, heatmap, nudged.as_recorded()) == \
            locate(observation, heatmap, through_event)


def test_each_aurora_says_when_it_was_seen(scan, aurora_scene):
    from datetime import datetime

    from marsaurora.mars_time import solar_longitude_deg

    observation, heatmap = scan
    params = PhysicalScreenParams()
    excess = excess_map(observation, params.excess)
    fusion = fuse(excess, heatmap, None, physical_evidence=True, candidate=params.is_candidate)
    detections, _ = catalog_auroras(observation, heatmap, excess, fusion)
    assert detections
    for row in detections:
        assert row["peak_utc"] in observation.time_utc
        moment = datetime.fromisoformat(row["peak_utc"])
        assert row["ls_deg"] == pytest.approx(solar_longitude_deg(moment), abs=1e-3)
        assert 1.38 <= row["sun_distance_au"] <= 1.67
        assert row["sc_alt_km"] == pytest.approx(aurora_scene.view.sc_distance_km - 3389.5,
                                                 abs=1.0)


def test_a_faint_wide_aurora_is_placed_by_all_its_light_not_its_brightest_pixel():
    """No pixel of a 1.5 R patch over 0.5 R airglow reaches 3 sigma on its own, yet the patch
    is a feature of 20 sigma and more. Its position comes from every pixel of the feature,
    its brightness from those over a fifth of its peak: the excess map already judged them
    together. With a
    3-sigma rule per pixel, the catalogue fell back to the single brightest pixel: up to 3 deg
    off, and a mean brightness under the airglow's."""
    offsets = []
    for seed in range(10):
        observation = night_scan(0.5, seed, blob_r=1.5, blob_at=(60, 40), blob_sigma_px=6.0)
        excess = excess_map(observation)
        strongest = excess.features[0]
        assert strongest.significance > 15
        where = locate_feature(observation, excess, strongest)
        offsets.append(float(np.hypot(where.lat_deg - 0.0, where.lon_deg - 20.0)))
        assert where.mean_r > 1.0
    assert max(offsets) < 0.6, sorted(offsets)


def test_a_long_arc_brighter_at_one_end_is_placed_by_all_its_light():
    """A diagonal arc 100 px across, 30 R along 40 px of it and 5 R along the other 60 (under a
    fifth of its brightest): its row sits at the centroid of all its light, not on the bright
    part, where weighing only the pixels over a fifth of the peak put it (5 deg away)."""
    extra = np.zeros(SHAPE)
    for col in range(20, 120):
        row = 30 + int(round((col - 20) * 0.6))
        extra[row:row + 2, col] = 30.0 if col < 60 else 5.0
    lat = (np.arange(SHAPE[0])[:, None] - 60.0) * 0.5 + 0.0 * extra
    lon = np.arange(SHAPE[1])[None, :] * 0.5 + 0.0 * extra
    light = _unit_sum(lat, lon, extra)
    bright = _unit_sum(lat, lon, np.where(extra >= 30.0, extra, 0.0))
    assert separation_deg(*light, *bright) > 4
    for seed in range(3):
        observation = night_scan(0.5, seed, extra_r=extra)
        excess = excess_map(observation)
        where = locate_feature(observation, excess, excess.features[0])
        assert excess.features[0].area_px >= 150, "the whole arc is one feature"
        assert separation_deg(where.lat_deg, where.lon_deg, *light) < 1.0


def _unit_sum(lat: np.ndarray, lon: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """Latitude and longitude (deg) of the ``weights``-weighted centroid on the sphere."""
    la, lo = np.radians(lat), np.radians(lon)
    vector = np.array([(weights * np.cos(la) * np.cos(lo)).sum(),
                       (weights * np.cos(la) * np.sin(lo)).sum(), (weights * np.sin(la)).sum()])
    vector /= np.linalg.norm(vector)
    return float(np.degrees(np.arcsin(vector[2]))), float(np.degrees(np.arctan2(vector[1],
                                                                                vector[0])))
