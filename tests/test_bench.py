"""`aurora bench` at a small N: it completes and its numbers are sane (not fast: that is a
benchmark's job, on a quiet machine)."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from marsaurora.bench.compare import TARGETS, judge, opencv_gui, render_table

from helpers import NEEDS_TRAINING_STACK, write_jsonl

SCALING = Path(__file__).resolve().parents[1] / "scripts" / "bench_scaling.py"


def test_bench_smoke_run_measures_every_path(tmp_path):
    pytest.importorskip("ultralytics", reason=NEEDS_TRAINING_STACK)
    done = subprocess.run([sys.executable, "-m", "marsaurora.cli", "bench", "--n", "4",
                           "--seed", "77", "--data", str(tmp_path / "data"), "--json"],
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout)
    for name in ("baseline", "embedded", "stack"):
        path = results[name]
        assert path["observations"] == 4 and path["observations_per_s"] > 0
        assert 0 < path["stage_ms"]["read"]["p50"] <= path["stage_ms"]["read"]["p95"] < 60_000
        assert all(0 < mb < 8192 for mb in path["peak_rss_mb"].values())
    assert {"plot", "resize", "crop", "mask"} <= set(results["baseline"]["stage_ms"])
    assert set(results["stack"]["peak_rss_mb"]) >= {"preprocess", "classify", "detect", "broker"}
    cpu = results["stack"]["cpu_ms_per_observation"]
    assert set(cpu) >= {"s3", "preprocess", "detect", "broker", "client"}
    assert cpu["preprocess"] > 0 and all(0 <= ms < 60_000 for ms in cpu.values())
    assert len(results["targets"]) == len(TARGETS)
    assert {t["status"] for t in results["targets"].values()} <= {"PASS", "FAIL"}
    assert results["machine"]["cpus"] >= 1


def test_bench_without_ultralytics_says_how_to_get_it_or_leave_the_baseline_out(
        tmp_path, monkeypatch, capsys):
    from marsaurora.bench.compare import main

    monkeypatch.setitem(sys.modules, "ultralytics", None)
    with pytest.raises(SystemExit) as stopped:
        main(["--n", "1", "--data", str(tmp_path / "data")])
    assert stopped.value.code == 2
    said = capsys.readouterr().err
    assert "pip install 'marsaurora[train]'" in said and "--paths embedded,stack" in said
    assert not (tmp_path / "data").exists(), "made the data before refusing"


def test_scaling_reuses_the_distinct_files_through_renamed_links(tmp_path):
    from marsaurora.bench.scaling import files_for
    from marsaurora.emus import parse_filename

    folder = tmp_path / "distinct"
    folder.mkdir()
    distinct = []
    for orbit in (101, 102, 103):
        path = folder / f"emm_emu_l2b_20220331t212107_{orbit:04d}_os2_sw1of3_r_v01-04.fits.gz"
        path.write_bytes(b"same bytes %d" % orbit)
        distinct.append(path)
    files = files_for(8, distinct, tmp_path / "links")
    assert len(files) == 8 and len({f.name for f in files}) == 8
    assert files[:3] == distinct
    assert {parse_filename(f.name).orbit for f in files} == {
        101, 102, 103, 10101, 10102, 10103, 20101, 20102}
    assert all(f.stat().st_ino == distinct[i % 3].stat().st_ino for i, f in enumerate(files))
    assert files_for(8, distinct, tmp_path / "links") == files


def test_scaling_script_measures_each_size_and_plots(tmp_path):
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, str(SCALING), "--sizes", "2,4",
                           "--distinct", "3", "--paths", "embedded", "--data",
                           str(tmp_path / "data"), "--out", str(out)],
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((out / "scaling.json").read_text())
    assert [run["n"] for run in results["runs"]] == [2, 4]
    assert [run["embedded"]["observations"] for run in results["runs"]] == [2, 4]
    assert all("stack" not in run and "baseline" not in run for run in results["runs"])
    for plot in ("scaling-time.png", "scaling-memory.png"):
        assert (out / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_resume_benchmark_kills_resumes_and_repeats(tmp_path):
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, str(SCALING.with_name("bench_resume.py")), "--sizes",
                           "40", "--distinct", "10", "--data", str(tmp_path / "data"),
                           "--out", str(out)],
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    (run,) = json.loads((out / "resume.json").read_text())["runs"]
    assert 20 <= run["killed"]["records_when_killed"] < 40
    assert run["repeated"]["plan"].startswith("0 to process")
    assert all(run[k]["one_record_each"] for k in ("full", "resumed", "repeated"))
    assert run["resumed"]["catalog_equal"]


def _measured(gui: str) -> dict:
    path = {"observations": 2, "observations_per_s": 1.0, "peak_rss_mb": {"classify": 140.0},
            "stage_ms": {"classify": {"n": 2, "p50": 20.0, "p95": 30.0}}}
    results = {"n": 2, "seed": 1, "stack": path,
               "machine": {"cpus": 2, "cpu": "test", "opencv_gui": gui}}
    results["targets"] = judge(results)
    return results


def test_the_table_says_when_the_opencv_measured_is_not_the_headless_one_users_get():
    assert "GUI build (QT5" in render_table(_measured("QT5"))
    assert "GUI build" not in render_table(_measured("NONE"))


def test_the_opencv_build_is_read_from_the_loaded_library():
    import cv2

    built = re.search(r"^\s*GUI:\s*(\S+)", cv2.getBuildInformation(), re.MULTILINE)
    assert built is not None and opencv_gui() == built.group(1)


@pytest.mark.parametrize("command", ["report", "catalog"])
def test_the_report_and_catalogue_memory_benchmark_runs_each_size(tmp_path, command):
    pytest.importorskip("matplotlib")
    detection = {"label": "aurora", "confidence": 0.9, "box_px": [1, 2, 3, 4], "lat_deg": -40.0,
                 "lon_deg": 180.0, "peak_r": 12.0, "area_km2": 2.0e5}
    write_jsonl(tmp_path / "observations.jsonl",
                [{"observation": "a.fits", "status": "aurora", "detections": [detection]},
                 {"observation": "b.fits", "status": "no_aurora", "detections": []}])
    done = subprocess.run([sys.executable, str(SCALING.with_name("bench_report.py")),
                           str(tmp_path), "--sizes", "4,2", "--command", command],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line.split("|")[1:3] for line in done.stdout.splitlines()[2:]]
    assert [(int(n), int(found)) for n, found in rows] == [(2, 1), (4, 2)]
