"""The built wheel, installed outside the checkout, runs both modes: nothing needs the clone."""

import json
import os
import subprocess
import sys
from pathlib import Path

from marsaurora.provenance import software_identity

ROOT = Path(__file__).resolve().parents[1]


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_the_installed_wheel_runs_embedded_and_via_events_in_any_folder(tmp_path):
    wheels, site, work = tmp_path / "wheels", tmp_path / "site", tmp_path / "elsewhere"
    work.mkdir()
    _run(["-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q",
          "-w", str(wheels)], tmp_path, dict(os.environ))
    (wheel,) = wheels.glob("marsaurora-*.whl")
    _run(["-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
         tmp_path, dict(os.environ))
    env = {**os.environ, "PYTHONPATH": str(site), "AURORA_LOG_LEVEL": "WARNING"}
    where = _run(["-c", "import marsaurora; print(marsaurora.__file__)"], work, env).stdout
    assert where.strip().startswith(str(site)), "the test ran the checkout, not the wheel"
    installed = _run(["-c", "from marsaurora.provenance import software_identity; "
                            "print(software_identity())"], work, env).stdout.strip()
    assert installed == software_identity(), "the wheel's records would look made by other code"

    _run(["-m", "marsaurora.cli", "synth", "--n", "3", "--seed", "5", "--out", "data",
          "--no-progress"], work, env)
    _run(["-m", "marsaurora.cli", "run", "data", "--out", "embedded", "--no-progress"], work, env)
    _run(["-m", "marsaurora.cli", "run", "data", "--out", "events", "--via-events",
          "--no-progress"], work, env)

    def records(folder: str) -> list[dict]:
        lines = (work / folder / "observations.jsonl").read_text().splitlines()
        return [{k: v for k, v in json.loads(line).items() if k != "timings_ms"}
                for line in lines]

    embedded = records("embedded")
    assert len(embedded) == 3 and all(r["status"] != "error" for r in embedded)
    assert records("events") == embedded
    _run(["-m", "marsaurora.cli", "report", "embedded"], work, env)
    page = work / "embedded" / "report"
    assert {p.name for p in page.iterdir()} >= {"index.html", "review.js", "review.css"}
