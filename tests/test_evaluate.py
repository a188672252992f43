"""scripts/evaluate.py: observation-level rates and position error against truth."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from marsaurora.evaluate import evaluate, separation_deg

from helpers import write_jsonl as write

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def run(tmp_path):
    aurora = {"lat_deg": -40.0, "lon_deg": 180.0}
    truth = [{"file": "a", "has_aurora": True, "auroras": [aurora, {"lat_deg": 60.0,
                                                                    "lon_deg": 10.0}]},
             {"file": "b", "has_aurora": True, "auroras": [aurora]},
             {"file": "c", "has_aurora": False, "auroras": []},
             {"file": "d", "has_aurora": False, "auroras": []}]
    near = {"lat_deg": -41.0, "lon_deg": 180.0}
    records = [{"observation": "a", "status": "aurora", "candidates": [1], "detections": [near]},
               {"observation": "b", "status": "no_aurora", "candidates": [1], "detections": []},
               {"observation": "c", "status": "aurora", "candidates": [1],
                "detections": [{"lat_deg": 0.0, "lon_deg": 0.0}]},
               {"observation": "d", "status": "error", "candidates": [], "detections": []}]
    return write(tmp_path / "truth.jsonl", truth), write(tmp_path / "obs.jsonl", records)


def test_counts_rates_and_position_error(run):
    result = evaluate(*run)
    assert (result.true_positive, result.false_negative, result.false_positive,
            result.true_negative) == (1, 1, 1, 1)
    assert result.recall == 0.5 and result.precision == 0.5 and result.f1 == 0.5
    assert result.screen_recall == 1.0 and result.errors == 1
    assert (result.auroras_injected, result.auroras_matched) == (3, 1)
    assert result.position_error_median_deg == pytest.approx(1.0, abs=1e-6)


def test_peak_brightness_is_read_against_the_brightest_injected_pixel(tmp_path):
    """Each found aurora's nearest row: its excess at the peak over the injected pixel peak;
    a row twice as bright as injected is outside a factor of 1.5, one at 1.2 inside."""
    truth = [{"file": "a", "has_aurora": True, "auroras": [
        {"lat_deg": 0.0, "lon_deg": 0.0, "pixel_peak_r": 10.0},
        {"lat_deg": 0.0, "lon_deg": 90.0, "pixel_peak_r": 10.0},
        {"lat_deg": 0.0, "lon_deg": 180.0}]}]
    rows = [{"lat_deg": 0.5, "lon_deg": 0.0, "peak_r": 13.0, "background_r": 1.0},
            {"lat_deg": 0.0, "lon_deg": 8.0, "peak_r": 99.0, "background_r": 1.0},
            {"lat_deg": 0.0, "lon_deg": 90.5, "peak_r": 21.0, "background_r": 1.0},
            {"lat_deg": 0.0, "lon_deg": 180.0, "peak_r": 5.0, "background_r": 1.0}]
    records = [{"observation": "a", "status": "aurora", "detections": rows}]
    result = evaluate(write(tmp_path / "t.jsonl", truth), write(tmp_path / "r.jsonl", records))
    summary = result.peak_over_injected
    assert summary["rows"] == 2 and summary["median"] == pytest.approx(1.6)
    assert summary["within"] == 0.5
    assert "within a factor of 1.5: 0.500" in result.describe()
    assert result.to_json()["peak_over_injected"]["median"] == 1.6


def test_peak_brightness_is_left_out_when_the_truth_has_no_pixel_peak(run):
    result = evaluate(*run)
    assert result.peak_over_injected == {} and "injected brightest pixel" not in result.describe()


def test_separation_is_a_great_circle_angle():
    assert separation_deg(0, 0, 0, 90) == pytest.approx(90)
    assert separation_deg(89, 0, 89, 180) == pytest.approx(2)
    assert separation_deg(10, 359.5, 10, 0.5) == pytest.approx(0.985, abs=1e-3)


def test_script_refuses_records_of_other_files(run, tmp_path):
    truth, _ = run
    other = write(tmp_path / "other.jsonl", [{"observation": "zzz", "status": "aurora"}])
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "evaluate.py"), str(truth),
                           str(other)], capture_output=True, text=True, check=False)
    assert done.returncode == 2 and "have no record" in done.stderr
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "evaluate.py"), *map(str, run),
                           "--json"], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout)["recall"] == 0.5


def test_script_piped_into_a_reader_that_stops_early_exits_quietly(run):
    """``evaluate.py ... | head -1``: the reader closes the pipe; no traceback."""
    script = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "evaluate.py"),
                               *map(str, run)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    script.stdout.close()
    _, stderr = script.communicate(timeout=60)
    assert script.returncode == 0 and b"Traceback" not in stderr, stderr.decode()


def test_recall_is_broken_down_by_signal_to_noise_when_the_truth_has_it(tmp_path):
    truth = [{"file": "a", "has_aurora": True,
              "auroras": [{"lat_deg": 0.0, "lon_deg": 0.0, "snr": 3.0},
                          {"lat_deg": 50.0, "lon_deg": 90.0, "snr": 45.0}]},
             {"file": "b", "has_aurora": True, "auroras": [{"lat_deg": 0.0, "lon_deg": 0.0}]}]
    records = [{"observation": "a", "status": "aurora",
                "detections": [{"lat_deg": 50.5, "lon_deg": 90.0}]},
               {"observation": "b", "status": "no_aurora", "detections": []}]
    result = evaluate(write(tmp_path / "t.jsonl", truth), write(tmp_path / "r.jsonl", records))
    by_snr = {key: (tally.found, tally.injected) for key, tally in result.breakdown["snr"].items()}
    assert by_snr == {"0-5 SNR": (0, 1), ">=30 SNR": (1, 1)}


def test_recall_is_broken_down_by_solar_zenith_angle_with_the_terminator_band_apart(tmp_path):
    truth = [{"file": "a", "has_aurora": True,
              "auroras": [{"lat_deg": 0.0, "lon_deg": 0.0, "sza_deg": 104.0},
                          {"lat_deg": 50.0, "lon_deg": 90.0, "sza_deg": 140.0},
                          {"lat_deg": -50.0, "lon_deg": 200.0, "sza_deg": 98.0}]}]
    records = [{"observation": "a", "status": "aurora",
                "detections": [{"lat_deg": 50.5, "lon_deg": 90.0}]}]
    result = evaluate(write(tmp_path / "t.jsonl", truth), write(tmp_path / "r.jsonl", records))
    by_sza = {key: (tally.found, tally.injected)
              for key, tally in result.breakdown["sza_deg"].items()}
    assert by_sza == {"0-100 deg": (0, 1), "100-110 deg": (0, 1), ">=130 deg": (1, 1)}
    assert list(by_sza) == ["0-100 deg", "100-110 deg", ">=130 deg"]
    assert "recall by sza_deg: 0-100 deg 0.000 (0/1)" in result.describe()


def test_recall_where_auroras_are_visible_counts_only_observations_with_one_at_snr_10(tmp_path):
    def observation(name, *snrs):
        return {"file": name, "has_aurora": True,
                "auroras": [{"lat_deg": 0.0, "lon_deg": 0.0, "snr": snr} for snr in snrs]}
    truth = [observation("faint", 4.0), observation("mixed", 4.0, 12.0),
             observation("bright", 40.0), {"file": "quiet", "has_aurora": False, "auroras": []}]
    called = {"faint": "no_aurora", "mixed": "aurora", "bright": "no_aurora", "quiet": "no_aurora"}
    records = [{"observation": name, "status": status, "detections": []}
               for name, status in called.items()]
    result = evaluate(write(tmp_path / "t.jsonl", truth), write(tmp_path / "r.jsonl", records))
    assert (result.visible.found, result.visible.injected) == (1, 2)
    assert result.recall_visible == 0.5 and result.recall == 1 / 3
    assert "SNR >= 10: 0.500 (1/2)" in result.describe()
    assert result.to_json()["visible"] == {"injected": 2, "found": 1, "recall": 0.5}


def test_without_snr_in_the_truth_there_is_no_visible_recall(run):
    result = evaluate(*run)
    assert result.visible is None and result.to_json()["visible"] is None
    assert "SNR >=" not in result.describe()
    assert result.ceiling == {} and "ceiling" not in result.describe()


def test_the_ceiling_counts_what_reaches_snr_5_whatever_the_run_found(tmp_path):
    def aurora(snr, peak_r):
        return {"lat_deg": 0.0, "lon_deg": 0.0, "snr": snr, "peak_r": peak_r,
                "emission_deg": 30.0}
    truth = [{"file": "lost", "has_aurora": True, "auroras": [aurora(2.0, 8.0)]},
             {"file": "mixed", "has_aurora": True, "auroras": [aurora(2.0, 1.0),
                                                              aurora(6.0, 20.0)]},
             {"file": "quiet", "has_aurora": False, "auroras": []}]
    records = [{"observation": name, "status": "no_aurora", "detections": []}
               for name in ("lost", "mixed", "quiet")]
    result = evaluate(write(tmp_path / "t.jsonl", truth), write(tmp_path / "r.jsonl", records))
    assert result.recall == 0.0
    assert result.to_json()["ceiling"] == {
        "observations": {"injected": 2, "found": 1, "recall": 0.5},
        "bright": {"injected": 2, "found": 1, "recall": 0.5}}
    assert "ceiling (share at SNR >= 5 over more than one pixel, what a perfect detector " \
        "finds): observations 0.500 (1/2), bright 0.500 (1/2)" in result.describe()


def test_a_one_pixel_aurora_is_out_of_the_ceiling_however_strong(tmp_path):
    """A particle hit fills one pixel too; no screen can keep the one and reject the other."""
    def aurora(extent):
        return {"lat_deg": 0.0, "lon_deg": 0.0, "snr": 40.0, "peak_r": 80.0,
                "emission_deg": 30.0, "pixel_extent": extent}
    truth = [{"file": "one", "has_aurora": True, "auroras": [aurora([7, 7, 30, 30])]},
             {"file": "three", "has_aurora": True, "auroras": [aurora([7, 7, 30, 32])]}]
    records = [{"observation": name, "status": "no_aurora", "detections": []}
               for name in ("one", "three")]
    result = evaluate(write(tmp_path / "t.jsonl", truth), write(tmp_path / "r.jsonl", records))
    assert result.to_json()["ceiling"] == {
        "observations": {"injected": 2, "found": 1, "recall": 0.5},
        "bright": {"injected": 2, "found": 1, "recall": 0.5}}


def test_rows_far_from_a_long_arcs_centre_are_pieces_of_it_not_false(tmp_path):
    arc = {"lat_deg": 0.0, "lon_deg": 0.0, "size_km": 3000.0}
    truth = [{"file": "arc", "has_aurora": True, "auroras": [arc]},
             {"file": "quiet", "has_aurora": False, "auroras": []}]
    records = [{"observation": "arc", "status": "aurora",
                "detections": [{"lat_deg": 0.0, "lon_deg": 0.5}, {"lat_deg": 0.0, "lon_deg": 20.0},
                               {"lat_deg": 0.0, "lon_deg": 60.0}]},
               {"observation": "quiet", "status": "aurora",
                "detections": [{"lat_deg": 0.0, "lon_deg": 0.0}]}]
    result = evaluate(write(tmp_path / "t.jsonl", truth), write(tmp_path / "r.jsonl", records))
    assert result.rows == {"aurora": 1, "piece": 1, "none": 2}
    assert result.to_json()["rows"] == {"aurora": 1, "piece": 1, "none": 2}
    assert ("catalogue rows 4: on an aurora 1, on a large aurora farther from its centre 1, "
            "on none 2") in result.describe()


def test_auroras_of_5_r_and_brighter_up_to_80_deg_are_counted_apart(tmp_path):
    def aurora(lat, peak_r, emission_deg):
        return {"lat_deg": lat, "lon_deg": 0.0, "peak_r": peak_r, "emission_deg": emission_deg}

    truth = [{"file": "a", "has_aurora": True,
              "auroras": [aurora(0.0, 20.0, 30.0), aurora(40.0, 8.0, 70.0),
                          aurora(-40.0, 3.0, 30.0), aurora(70.0, 30.0, 83.0)]}]
    records = [{"observation": "a", "status": "aurora",
                "detections": [{"lat_deg": 0.5, "lon_deg": 0.0},
                               {"lat_deg": -40.0, "lon_deg": 0.0}]}]
    result = evaluate(write(tmp_path / "t.jsonl", truth), write(tmp_path / "r.jsonl", records))
    assert (result.bright.found, result.bright.injected) == (1, 2)
    assert "found: 0.500 (1/2)" in result.describe()
    assert result.to_json()["bright"] == {"injected": 2, "found": 1, "recall": 0.5}


def test_missed_auroras_are_told_apart_by_whether_a_screen_candidate_covered_them(tmp_path):
    """One aurora under a candidate that fusion dropped, one under none, one found: the first
    is lost after the screen, the second at it, the third is not lost."""
    dropped = {"lat_deg": 0.0, "lon_deg": 0.0, "snr": 8.0, "pixel_extent": [10, 12, 20, 22]}
    unseen = {"lat_deg": 30.0, "lon_deg": 0.0, "snr": 12.0, "pixel_extent": [50, 52, 60, 62]}
    found = {"lat_deg": -30.0, "lon_deg": 90.0, "snr": 40.0, "pixel_extent": [80, 90, 5, 9]}
    truth = [{"file": "a", "has_aurora": True, "auroras": [dropped, unseen]},
             {"file": "b", "has_aurora": True, "auroras": [found]}]
    records = [
        {"observation": "a", "status": "no_aurora", "detections": [], "candidates": [
            {"integration_range": [12, 15], "slit_pixel_range": [22, 30], "significance": 9.6},
            {"integration_range": [53, 60], "slit_pixel_range": [50, 62], "significance": 30.0}]},
        {"observation": "b", "status": "aurora", "detections": [found], "candidates": [
            {"integration_range": [85, 86], "slit_pixel_range": [0, 5], "significance": 60.0}]}]
    result = evaluate(write(tmp_path / "t.jsonl", truth), write(tmp_path / "r.jsonl", records))
    assert {key: (t.injected, t.found) for key, t in result.screened_by_snr.items()} == {
        "5-10 SNR": (1, 1), "10-30 SNR": (1, 0), ">=30 SNR": (1, 1)}
    assert result.missed_reachable == {"no candidate": 1, "under a candidate": 1}
    assert result.significance_over_snr_median == pytest.approx((9.6 / 8.0 + 60.0 / 40.0) / 2)
    assert "1 under no screen candidate, 1 under one" in result.describe()
    assert result.to_json()["screened_by_snr"]["10-30 SNR"]["found"] == 0


def test_without_pixel_extents_the_screen_is_not_laid_over_the_truth(run):
    result = evaluate(*run)
    assert result.screened_by_snr == {} and result.missed_reachable == {}
    assert "screen candidate" not in result.describe()


def test_image_sets_are_scored_as_scans_not_swath_files(tmp_path):
    """Scan 1: the aurora is in swath 2, the call in swath 1 (found as a set, a miss and a false
    alarm as files). Scan 2: no aurora, swath 3 called. Scan 3, one file: an aurora missed."""
    def name(start: str, swath: str) -> str:
        return f"emm_emu_l2b_{start}_0191_os2_{swath}_r_v01-04.fits.gz"

    files = {name("20220331t212107", "sw1of3"): (False, "aurora"),
             name("20220331t212807", "sw2of3"): (True, "no_aurora"),
             name("20220331t213507", "sw3of3"): (False, "no_aurora"),
             name("20220401t030000", "sw1of3"): (False, "no_aurora"),
             name("20220401t030700", "sw2of3"): (False, "no_aurora"),
             name("20220401t031400", "sw3of3"): (False, "aurora"),
             name("20220402t110000", "sw1of1"): (True, "no_aurora")}
    truth = [{"file": f, "has_aurora": holds, "auroras": []} for f, (holds, _) in files.items()]
    records = [{"observation": f, "status": status, "detections": []}
               for f, (_, status) in files.items()]
    result = evaluate(write(tmp_path / "t.jsonl", truth), write(tmp_path / "r.jsonl", records))
    assert result.image_sets == {"sets": 3, "with_aurora": 2, "found": 1, "false": 1}
    assert "image sets 3: 2 with an aurora, 1 found (recall 0.500), 1 called on none" in \
        result.describe()
    assert (result.true_positive, result.false_positive) == (0, 2), "as files, nothing found"
