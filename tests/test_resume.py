"""Resumable, incremental runs: a killed run resumes, an unchanged rerun does nothing, a changed
model or a newer product version reprocesses exactly what it should."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import marsaurora
from marsaurora import __version__
from marsaurora.cli import main
from marsaurora.provenance import code_digest, other_software, software_identity
from marsaurora.resume import RECORDS_FILE, SUPERSEDED_FILE, RunFolder, observation_key

from helpers import write_jsonl


def records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / RECORDS_FILE).open()]


def write_records(out: Path, made: list[dict]) -> None:
    """Replace the folder's records, as other code would have written them."""
    write_jsonl(out / RECORDS_FILE, made)


def aurora(*argv: str | Path) -> int:
    return main([str(a) for a in argv])


@pytest.fixture()
def inputs(mixed_set: Path, tmp_path: Path) -> Path:
    """A private copy of the twelve mixed files, free to be changed."""
    folder = tmp_path / "in"
    shutil.copytree(mixed_set, folder)
    return folder


def test_an_unchanged_rerun_processes_nothing_and_reads_no_input(inputs, tmp_path, capsys):
    out = tmp_path / "out"
    assert aurora("run", inputs, "--out", out, "--workers", "1", "--no-progress") == 0
    first = records(out)
    for path in inputs.glob("*.fits.gz"):
        path.chmod(0)
    try:
        assert aurora("run", inputs, "--out", out, "--workers", "1", "--no-progress") == 0
    finally:
        for path in inputs.glob("*.fits.gz"):
            path.chmod(0o644)
    assert "0 to process" in capsys.readouterr().err
    assert records(out) == first
    assert not (out / SUPERSEDED_FILE).exists()


def test_records_made_by_other_code_of_the_same_version_are_made_again(inputs, tmp_path,
                                                                        capsys):
    """The version alone named the software, and it is not bumped by every change to the
    science: after an update, a rerun kept what the older code made (the demo printed the
    old catalogue's peaks). Records say "0.1.0" as that code wrote them."""
    out = tmp_path / "out"
    aurora("run", inputs, "--out", out, "--workers", "1", "--no-progress")
    older = [{**r, "provenance": {**r["provenance"], "software": __version__}}
             for r in records(out)]
    write_records(out, older)
    capsys.readouterr()
    aurora("run", inputs, "--out", out, "--workers", "1", "--no-progress")
    assert "12 to process (12 software)" in capsys.readouterr().err
    assert {r["provenance"]["software"] for r in records(out)} == {software_identity()}


def test_a_cluster_run_does_not_judge_records_by_this_installs_code_or_weights(inputs, tmp_path,
                                                                              capsys):
    """With ``--broker`` the cluster's images make the records, with code and weights this
    install cannot see: comparing them with its own would process every file again on each
    run. Nothing is stale here, so the unreachable broker is never called."""
    out = tmp_path / "out"
    aurora("run", inputs, "--out", out, "--workers", "1", "--no-progress")
    cluster_made = [{**r, "provenance": {**r["provenance"], "software": "0.1.0+0123456789ab",
                                         "model_sha256": r["provenance"]["model_sha256"]
                                         and "f" * 64}}
                    for r in records(out)]
    write_records(out, cluster_made)
    capsys.readouterr()
    assert aurora("run", inputs, "--out", out, "--via-events", "--broker",
                  "http://127.0.0.1:9", "--no-progress") == 0
    assert "0 to process" in capsys.readouterr().err
    assert records(out) == cluster_made


def test_records_of_function_images_built_from_other_code_are_counted_for_the_warning():
    """`aurora run --via-events --containers` warns when the images made records with other
    code; only this run's observations count, and records without provenance do not."""
    mine = software_identity()
    made = [{"observation": "a", "provenance": {"software": "0.1.0+0123456789ab"}},
            {"observation": "b", "provenance": {"software": mine}},
            {"observation": "c", "provenance": {"software": "0.1.0+0123456789ab"}},
            {"observation": "d", "provenance": None}, {"observation": "e"}]
    assert other_software(made, {"a", "b", "d", "e"}, mine) == {"0.1.0+0123456789ab": 1}
    assert not other_software(made, {"b", "d", "e"}, mine)


def test_the_code_digest_follows_the_code_not_the_folder(tmp_path):
    """A checkout, its wheel and its images hash the same files to the same digest; one
    changed module changes it; compiled files and other assets do not."""
    package = Path(marsaurora.__file__).parent
    copy = tmp_path / "marsaurora"
    shutil.copytree(package, copy)
    assert code_digest(copy) == code_digest(package)
    (copy / "__pycache__").mkdir(exist_ok=True)
    (copy / "__pycache__" / "extra.cpython-311.pyc").write_bytes(b"\0")
    (copy / "notes.txt").write_text("not code")
    assert code_digest(copy) == code_digest(package)
    fusion = copy / "fusion.py"
    fusion.write_text(fusion.read_text().replace("10.0", "11.0", 1))
    assert code_digest(copy) != code_digest(package)


def test_provenance_says_how_many_records_each_setting_made(inputs, tmp_path, capsys):
    out = tmp_path / "out"
    aurora("run", inputs, "--out", out, "--workers", "1", "--no-progress")
    capsys.readouterr()
    assert aurora("provenance", out) == 0
    said = capsys.readouterr().out
    assert said.startswith(f"12 records in {out / RECORDS_FILE}")
    assert "      12  physical" in said


def test_every_record_says_what_made_it(inputs, tmp_path):
    out = tmp_path / "out"
    aurora("run", inputs, "--out", out, "--workers", "1", "--no-progress")
    for record in records(out):
        made = record["provenance"]
        assert made["software"] and made["screen"] == "physical"
        assert len(made["input_sha256"]) == 64 and made["input_bytes"] > 0
        assert (made["model_sha256"] is not None) == (record["stage"] in ("detect", "catalog"))


def test_a_changed_model_reprocesses_what_the_detector_saw(inputs, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    monkeypatch.setenv("AURORA_DETECT_PRECISION", "int8")
    aurora("run", inputs, "--out", out, "--workers", "1", "--no-progress")
    seen = {r["observation"] for r in records(out) if r["provenance"]["model_sha256"]}
    assert seen
    monkeypatch.setenv("AURORA_DETECT_PRECISION", "fp32")
    capsys.readouterr()
    aurora("run", inputs, "--out", out, "--workers", "1", "--no-progress",
           "--reprocess-if", "model")
    assert f"{len(seen)} to process ({len(seen)} model)" in capsys.readouterr().err
    after = records(out)
    assert len(after) == 12
    assert len({r["provenance"]["model_sha256"] for r in after if r["observation"] in seen}) == 1
    superseded = [json.loads(line) for line in (out / SUPERSEDED_FILE).open()]
    assert {r["observation"] for r in superseded} == seen


def test_a_newer_product_version_supersedes_the_old_record(inputs, tmp_path):
    out = tmp_path / "out"
    aurora("run", inputs, "--out", out, "--workers", "1", "--no-progress")
    old = sorted(inputs.glob("*.fits.gz"))[0]
    key, (version, revision) = observation_key(old.name)
    newer = old.with_name(f"{key}_v{version:02d}-{revision + 1:02d}.fits.gz")
    shutil.copy(old, newer)
    aurora("run", inputs, "--out", out, "--workers", "1", "--no-progress")
    names = [r["observation"] for r in records(out)]
    assert newer.name in names and old.name not in names and len(names) == 12
    assert [json.loads(line)["observation"] for line in (out / SUPERSEDED_FILE).open()] == [
        old.name]
    folder = RunFolder(out)
    current = {"software": "x", "model_sha256": None, "screen": "physical",
               "settings_digest": "y"}
    assert folder.plan([old], current, reprocess_if=()).skipped == {"superseded": 1}


def test_a_partial_last_line_is_cut_and_a_broken_middle_line_named(tmp_path):
    folder = RunFolder(tmp_path)
    whole = json.dumps({"observation": "a.fits", "status": "no_aurora"}) + "\n"
    folder.records_path.write_text(whole + '{"observation": "b.fi')
    assert folder.repair() == len('{"observation": "b.fi')
    assert folder.records_path.read_text() == whole
    folder.records_path.write_text('{"half\n' + whole)
    with pytest.raises(ValueError, match=f"{RECORDS_FILE}:1 is not a JSON record"):
        list(folder.records())


@pytest.mark.slow
def test_a_run_killed_midway_resumes_to_the_uninterrupted_catalogue(inputs, tmp_path):
    whole = tmp_path / "whole"
    aurora("run", inputs, "--out", whole, "--workers", "1", "--no-progress")
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "marsaurora.cli", "run", str(inputs), "--out", str(out),
               "--workers", "1", "--no-progress"]
    run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and run.poll() is None:
        path = out / RECORDS_FILE
        if path.is_file() and path.read_bytes().count(b"\n") >= 5:
            break
        time.sleep(0.05)
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    done = (out / RECORDS_FILE).read_bytes().count(b"\n")
    assert 5 <= done < 12, "the run ended before it could be killed midway"
    assert aurora("run", inputs, "--out", out, "--workers", "1", "--no-progress") == 0
    names = [r["observation"] for r in records(out)]
    assert sorted(names) == sorted(p.name for p in inputs.glob("*.fits.gz"))
    assert (out / "catalog.csv").read_text() == (whole / "catalog.csv").read_text()


def test_every_detector_setting_that_changes_boxes_changes_the_settings_digest():
    from dataclasses import replace

    from marsaurora.pipeline import PipelineOptions
    from marsaurora.provenance import settings_digest

    options = PipelineOptions()
    digests = {settings_digest(replace(options, detector=replace(options.detector, **change)))
               for change in ({}, {"views": 1}, {"confidence": 0.1}, {"iou": 0.5},
                              {"backend": "ultralytics"})}
    assert len(digests) == 5
    assert settings_digest(replace(options, detector=replace(options.detector, threads=3))) == (
        settings_digest(options)), "threads change speed, not records"
