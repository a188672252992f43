"""The synthetic generator: files reopen, truth matches what was injected."""

import multiprocessing
import os
import signal

import numpy as np
import pytest

from marsaurora.emus import read_l2b
from marsaurora.evaluate import separation_deg
from marsaurora.synth.generate import SynthSpec, generate, read_truth
from marsaurora.mars import MARS_RADIUS_KM, unit_vectors
from marsaurora.synth.ranges import OOD, TRAIN
from marsaurora.synth.scene import AURORA_TYPES, SCENARIOS, make_scene

from hostile import time_bounded


def test_every_file_reopens_with_its_truth(mixed_set):
    truth = read_truth(mixed_set)
    files = sorted(p.name for p in mixed_set.glob("*.fits.gz"))
    assert sorted(t["file"] for t in truth) == files and len(files) == 12
    for record in truth:
        observation = read_l2b(mixed_set / record["file"])
        assert observation.shape == (record["nint"], record["npix"])
        assert observation.radiance_axes == record["radiance_axes"]
        assert observation.centre_point == record["centre_point"]
        assert record["scenario"] in SCENARIOS
        assert record["has_aurora"] == bool(record["auroras"])


def test_injected_auroras_are_where_truth_says(scenario_sets):
    folder = scenario_sets["aurora"]
    checked = 0
    for record in read_truth(folder):
        observation = read_l2b(folder / record["file"])
        for aurora in record["auroras"]:
            assert aurora["type"] in AURORA_TYPES
            (low, high), = TRAIN.peak_r
            assert low <= aurora["peak_r"] <= high
            row, col = aurora["peak_pixel"]
            first, last, left, right = aurora["pixel_extent"]
            assert first <= row <= last and left <= col <= right
            assert observation.sza_deg[row, col] == pytest.approx(aurora["sza_deg"], abs=0.01)
            assert observation.emission_deg[row, col] == pytest.approx(aurora["emission_deg"],
                                                                       abs=0.01)
            assert aurora["sza_deg"] >= 95, "auroras are injected on the nightside"
            window = observation.brightness_r[max(row - 1, 0):row + 2, max(col - 1, 0):col + 2]
            assert np.nanmean(window) > (record["night_background_r"]
                                         + 0.3 * aurora["pixel_peak_r"])
            if aurora["type"] != "arc":
                distance = separation_deg(aurora["lat_deg"], aurora["lon_deg"],
                                          observation.lat_deg[row, col],
                                          observation.lon_deg[row, col])
                assert distance * np.radians(1) * MARS_RADIUS_KM < 600
            checked += 1
    assert checked >= 12


def test_truth_places_each_aurora_where_its_light_falls():
    """The truth's position is the centroid of the aurora's light on the planet, as the
    catalogue measures it: read back from the noisy scan (pixels over a fifth of the peak,
    weighted by brightness), a bright aurora sits within a degree of it. Weighting each pixel's
    emission without its slant path put arcs that reach towards the limb up to 1.8 deg off."""
    rng = np.random.default_rng(11)
    offsets = []
    while len(offsets) < 20:
        scene = make_scene(rng, "aurora", ranges=TRAIN)
        if len(scene.auroras) != 1 or scene.auroras[0].pixel_peak_r < 10:
            continue
        aurora = scene.auroras[0]
        first, last, left, right = aurora.pixel_extent
        window = (slice(first, last + 1), slice(left, right + 1))
        light = np.nan_to_num(scene.brightness_r[window])
        lat = scene.geometry.lat_deg[:, 0][window]
        lon = scene.geometry.lon_deg[:, 0][window]
        weight = np.where(np.isfinite(lat) & (light >= 0.2 * aurora.pixel_peak_r), light, 0.0)
        centroid = (weight[..., None] * unit_vectors(np.nan_to_num(lat), np.nan_to_num(lon))
                    ).sum(axis=(0, 1))
        centroid /= np.linalg.norm(centroid)
        lat_c = np.degrees(np.arcsin(centroid[2]))
        lon_c = np.degrees(np.arctan2(centroid[1], centroid[0])) % 360
        offsets.append(separation_deg(aurora.lat_deg, aurora.lon_deg, lat_c, lon_c))
    assert max(offsets) < 1.0, sorted(offsets)


def test_crustal_spots_sit_over_the_southern_crustal_fields(scenario_sets):
    spots = [a for r in read_truth(scenario_sets["aurora"]) for a in r["auroras"]
             if a["crustal"]]
    for spot in spots:
        assert spot["type"] == "spot"
        assert -80 <= spot["lat_deg"] <= -20 and 145 <= spot["lon_deg"] <= 215


def _auroras(ranges, n: int, seed: int) -> list:
    rng = np.random.default_rng(seed)
    return [a for _ in range(n) for a in make_scene(rng, "aurora", ranges=ranges).auroras]


def test_training_auroras_cover_every_morphology_width_and_the_whole_night_disk():
    auroras = _auroras(TRAIN, 40, 5)
    assert {a.type for a in auroras} == set(AURORA_TYPES)
    assert {a.form for a in auroras if a.type == "arc"} == {"straight", "curved", "sinuous"}
    (narrowest, widest), = TRAIN.arc_width_deg
    arcs_deg = [a.width_km / 59.16 for a in auroras if a.type == "arc"]
    assert all(narrowest - 0.01 <= w <= widest + 0.01 for w in arcs_deg)
    assert min(arcs_deg) < 1.0 and max(arcs_deg) > 2.0
    assert max(a.emission_deg for a in auroras) > 65, "no aurora near the limb"
    assert min(a.sza_deg for a in auroras) < 110, "no aurora in the terminator band"
    assert all(a.snr > 0 for a in auroras)


def test_out_of_distribution_auroras_lie_outside_the_training_widths_and_profiles():
    auroras = _auroras(OOD, 30, 6)
    (narrowest, widest), = TRAIN.arc_width_deg
    assert all(not narrowest <= a.width_km / 59.16 <= widest
               for a in auroras if a.type == "arc")
    assert {a.profile for a in auroras} <= {"exponential", "flat"}
    assert not set(TRAIN.profiles) & set(OOD.profiles)


def test_quiet_and_dayside_sets_hold_no_aurora(scenario_sets):
    for scenario in ("quiet_night", "dayside", "crescent"):
        truth = read_truth(scenario_sets[scenario])
        assert all(r["scenario"] == scenario and not r["auroras"] for r in truth)


def test_hot_pixels_are_written_where_truth_says(scenario_sets):
    seen = 0
    for folder in scenario_sets.values():
        for record in read_truth(folder):
            hot = [h for h in record["hard_negatives"] if h["type"] == "hot_pixel"]
            if not hot:
                continue
            observation = read_l2b(folder / record["file"])
            for pixel in hot:
                value = observation.brightness_r[pixel["integration"], pixel["slit_pixel"]]
                assert value == pytest.approx(pixel["brightness_r"], abs=0.06)
                seen += 1
    assert seen > 0, "no hot pixel was drawn in the fixture sets; change their seeds"


def test_same_seed_same_bytes(tmp_path):
    first = list(generate(SynthSpec(n=2, seed=42), tmp_path / "a"))
    second = list(generate(SynthSpec(n=2, seed=42), tmp_path / "b"))
    assert first == second
    for record in first:
        assert (tmp_path / "a" / record["file"]).read_bytes() == (
            tmp_path / "b" / record["file"]).read_bytes()


HANG_S = 240
"""Far longer than the twelve scans take with a worker lost (a few seconds here)."""


def test_a_worker_killed_midway_costs_no_file_and_changes_no_byte(tmp_path):
    """Drawn by several workers, a batch whose worker is killed (out of memory) still writes
    every file, the same as one process would; ``multiprocessing.Pool`` used to wait for the
    dead worker's file for ever: the time bound makes a hang a failure, not a stalled CI."""
    spec = SynthSpec(n=12, seed=77, compress=False)
    alone = list(generate(spec, tmp_path / "alone"))
    killed: list[int] = []
    drawn = []
    with time_bounded(HANG_S):
        for record in generate(spec, tmp_path / "pool", workers=2):
            drawn.append(record)
            children = multiprocessing.active_children()
            if not killed and children:
                os.kill(children[0].pid, signal.SIGKILL)
                killed.append(children[0].pid)
    assert killed, "the workers were gone before one could be killed"
    assert drawn == alone
    for record in alone:
        assert (tmp_path / "pool" / record["file"]).read_bytes() == (
            tmp_path / "alone" / record["file"]).read_bytes()


def test_file_k_does_not_depend_on_n(tmp_path):
    short = list(generate(SynthSpec(n=1, seed=9), tmp_path / "a"))
    longer = list(generate(SynthSpec(n=3, seed=9), tmp_path / "b"))
    assert short[0] == longer[0]


def test_unknown_scenario_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown scenario 'aurorae'"):
        list(generate(SynthSpec(n=1, seed=0, scenarios=("aurorae",)), tmp_path))


def test_a_gain_given_draws_every_scan_that_much_less_noisy(tmp_path):
    """``--gain`` replaces the ranges' counts per rayleigh: the truth says so, and so do the
    written errors (Poisson: brightness / error**2 is the gain wherever a pixel has counts)."""
    records = list(generate(SynthSpec(n=3, seed=5, scenarios=("quiet_night",),
                                      gain_counts_per_r=(60.0, 80.0)), tmp_path))
    for record in records:
        assert 60.0 <= record["gain_counts_per_r"] <= 80.0
        observation = read_l2b(tmp_path / record["file"])
        counted = observation.on_disk & (observation.brightness_r > 0.5)
        gains = observation.brightness_r[counted] / observation.brightness_err_r[counted] ** 2
        np.testing.assert_allclose(np.median(gains), record["gain_counts_per_r"], rtol=0.01)


def test_a_gain_range_upside_down_is_refused(tmp_path):
    with pytest.raises(ValueError, match="0 < LOW <= HIGH"):
        list(generate(SynthSpec(n=1, seed=0, gain_counts_per_r=(5.0, 1.0)), tmp_path))


def test_the_ood_ranges_split_into_their_auroras_and_their_glow():
    """``ood-auroras`` and ``ood-glow`` each take one part of what ``ood`` changes and keep the
    training ranges elsewhere; with the noise, the two parts are every change ``ood`` makes,
    so the sets they draw account for the whole out-of-distribution gap."""
    from dataclasses import fields

    from marsaurora.synth.ranges import (OOD, OOD_AURORA_FIELDS, OOD_GLOW_FIELDS, RANGES,
                                         TRAIN)

    changed = {f.name for f in fields(TRAIN) if getattr(TRAIN, f.name) != getattr(OOD, f.name)}
    assert changed == set(OOD_AURORA_FIELDS) | set(OOD_GLOW_FIELDS) | {"gain_counts_per_r"}
    for name, part in (("ood-auroras", OOD_AURORA_FIELDS), ("ood-glow", OOD_GLOW_FIELDS)):
        ranges = RANGES[name]
        for spec in fields(TRAIN):
            source = OOD if spec.name in part else TRAIN
            assert getattr(ranges, spec.name) == getattr(source, spec.name), (name, spec.name)
