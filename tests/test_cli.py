"""The ``aurora`` command as a user runs it: a real subprocess."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def aurora(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "marsaurora.cli", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=300)


def test_synth_then_run(tmp_path: Path):
    made = aurora("synth", "--n", "4", "--out", str(tmp_path / "data"), "--seed", "12",
                  "--no-progress", "--workers", "2")
    assert made.returncode == 0, made.stderr
    assert "wrote 4 files" in made.stdout
    assert len(list((tmp_path / "data").glob("emm_emu_l2b_*.fits.gz"))) == 4

    ran = aurora("run", str(tmp_path / "data"), "--out", str(tmp_path / "out"), "--png",
                 "--no-progress", "--screen", "paper")
    assert ran.returncode == 0, ran.stderr
    assert "4 observations" in ran.stdout
    records = [json.loads(line) for line in (tmp_path / "out" / "observations.jsonl").open()]
    assert len(records) == 4 and {r["screen"] for r in records} == {"paper"}
    pictures = {p.name for p in (tmp_path / "out" / "heatmaps").glob("*.png")}
    detected = [r["observation"].removesuffix(".fits.gz") for r in records if r["detections"]]
    assert pictures == ({r["observation"].removesuffix(".fits.gz") + ".png" for r in records}
                        | {f"{stem}-detections.png" for stem in detected})
    assert (tmp_path / "out" / "catalog.ecsv").is_file() and "catalogue:" in ran.stdout
    for line in ran.stderr.splitlines():
        if line.startswith("{"):
            assert {"time", "level", "message"} <= set(json.loads(line))


def test_run_via_events_passes_settings_to_the_functions(tmp_path: Path):
    made = aurora("synth", "--n", "3", "--out", str(tmp_path / "data"), "--seed", "15",
                  "--no-progress")
    assert made.returncode == 0, made.stderr
    ran = aurora("run", str(tmp_path / "data"), "--out", str(tmp_path / "out"), "--via-events",
                 "--no-progress", env={"AURORA_SCREEN": "paper"})
    assert ran.returncode == 0, ran.stderr
    assert "3 observations" in ran.stdout and "aurora-preprocess: 3 events" in ran.stdout
    records = [json.loads(line) for line in (tmp_path / "out" / "observations.jsonl").open()]
    assert [r["screen"] for r in records] == ["paper"] * 3
    assert (tmp_path / "out" / ".stack" / "logs" / "broker.log").is_file()


def test_run_with_nothing_to_do_says_so(tmp_path: Path):
    ran = aurora("run", str(tmp_path), "--out", str(tmp_path / "out"), "--no-progress")
    assert ran.returncode == 2 and "no FITS files found" in ran.stderr


def test_bad_setting_is_named(tmp_path: Path):
    ran = aurora("run", str(tmp_path), "--out", str(tmp_path / "out"),
                 env={"AURORA_MIN_EXCESS_R": "lots"})
    assert ran.returncode == 2 and "AURORA_MIN_EXCESS_R" in ran.stderr


def test_an_out_that_is_a_file_is_refused_in_words(tmp_path: Path):
    made = aurora("synth", "--n", "1", "--out", str(tmp_path / "data"), "--seed", "3",
                  "--no-progress")
    assert made.returncode == 0, made.stderr
    (tmp_path / "taken").write_text("not a folder")
    ran = aurora("run", str(tmp_path / "data"), "--out", str(tmp_path / "taken"), "--no-progress")
    assert ran.returncode == 2 and "is a file; give a folder" in ran.stderr
    assert "Traceback" not in ran.stderr
    ran = aurora("run", str(tmp_path / "data"), "--out", str(tmp_path / "o"), "--containers")
    assert ran.returncode == 2 and "go with --via-events" in ran.stderr
    ran = aurora("run", str(tmp_path / "data"), "--out", str(tmp_path / "o"), "--via-events",
                 "--containers", "--broker", "http://127.0.0.1:9")
    assert ran.returncode == 2 and "has its own" in ran.stderr


@pytest.mark.parametrize("command", ["run", "synth"])
def test_workers_that_cannot_start_are_named_not_a_traceback_or_a_hang(tmp_path: Path,
                                                                      mixed_set: Path,
                                                                      command: str):
    """A script that calls the command's ``main`` at its top level makes every spawned worker
    run it again and die on start-up. ``run`` ended in a ``WorkersCannotStart`` traceback and
    ``synth``, whose pool replaced its dying workers for ever, never ended; both now say what
    to do, as for any other user error."""
    arguments = {"run": [str(mixed_set), "--out", str(tmp_path / "out")],
                 "synth": ["--n", "4", "--out", str(tmp_path / "out")]}[command]
    script = tmp_path / "unguarded.py"
    argv = [command, *arguments, "--workers", "2", "--no-progress"]
    script.write_text(f"import sys\nfrom marsaurora.cli import main\nsys.exit(main({argv!r}))\n")
    ran = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "AURORA_DETECTOR": "off"})
    assert ran.returncode == 1, ran.stderr
    assert "aurora: worker processes died as they started" in ran.stderr
    assert "marsaurora.runner.WorkersCannotStart" not in ran.stderr


def test_the_training_set_builder_names_workers_that_cannot_start(tmp_path: Path):
    """``model/dataset.py`` draws through the same worker pool; called unguarded at a script's
    top level it ended in a ``WorkersCannotStart`` traceback, and now says what happened."""
    script = tmp_path / "unguarded.py"
    model = Path(__file__).resolve().parents[1] / "model"
    argv = ["--out", str(tmp_path / "data"), "--n-train", "4", "--workers", "2"]
    script.write_text(f"import sys\nsys.path.insert(0, {str(model)!r})\nimport dataset\n"
                      f"sys.exit(dataset.main({argv!r}))\n")
    ran = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=120)
    assert ran.returncode == 1, ran.stderr
    assert "dataset.py: train split: worker processes died as they started" in ran.stderr
    assert "marsaurora.runner.WorkersCannotStart" not in ran.stderr


@pytest.mark.parametrize(("flag", "value", "said"), [
    ("--start", "2036-13-01", "a date is YYYY-MM-DD, such as 2022-03-31, not '2036-13-01' "
                              "(month must be in 1..12)"),
    ("--end", "31/03/2022", "a date is YYYY-MM-DD, such as 2022-03-31, not '31/03/2022'"),
    ("--version", "1.4", "a product version is VV-RR, such as 01-04, not '1.4'")])
def test_fetch_filters_that_cannot_be_read_say_the_form_they_take(tmp_path: Path, flag: str,
                                                                  value: str, said: str):
    ran = aurora("fetch", str(tmp_path), "--out", str(tmp_path / "out"), flag, value)
    assert ran.returncode == 2 and said in ran.stderr, ran.stderr
