"""``aurora report``: the summary figure of a run."""

import json

import pytest

from marsaurora.cli import main
from marsaurora.report import ReportError, make_report

pytest.importorskip("matplotlib")


def test_report_draws_the_run(tmp_path, capsys):
    detection = {"label": "aurora", "confidence": 0.9, "box_px": [1, 2, 3, 4], "lat_deg": -40.0,
                 "lon_deg": 180.0, "peak_r": 12.0, "area_km2": 2.0e5}
    records = [{"observation": "a.fits", "status": "aurora", "detections": [detection] * 2},
               {"observation": "b.fits", "status": "no_aurora", "detections": []},
               {"observation": "c.fits", "status": "error", "detections": []}]
    (tmp_path / "observations.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    assert main(["report", str(tmp_path)]) == 0
    assert "3 observations, 2 detections" in capsys.readouterr().out
    png = (tmp_path / "report.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 20_000


def test_report_of_a_folder_without_a_run_says_what_to_do(tmp_path):
    with pytest.raises(ReportError, match="aurora run"):
        make_report(tmp_path)
    assert main(["report", str(tmp_path)]) == 2
