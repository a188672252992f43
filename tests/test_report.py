"""``aurora report``: the summary figure of a run."""

import json

import numpy as np
import pytest

from marsaurora.cli import main
from marsaurora.report import ReportError, make_report

from helpers import write_jsonl

pytest.importorskip("matplotlib")


def test_report_draws_the_run(tmp_path, capsys):
    detection = {"label": "aurora", "confidence": 0.9, "box_px": [1, 2, 3, 4], "lat_deg": -40.0,
                 "lon_deg": 180.0, "peak_r": 12.0, "area_km2": 2.0e5}
    records = [{"observation": "a.fits", "status": "aurora", "detections": [detection] * 2},
               {"observation": "b.fits", "status": "no_aurora", "detections": []},
               {"observation": "c.fits", "status": "error", "detections": []}]
    write_jsonl(tmp_path / "observations.jsonl", records)
    assert main(["report", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "3 observations, 2 detections; no image set saw the night disk" in out
    assert "report/index.html" in out
    png = (tmp_path / "report.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 20_000


def test_report_of_a_folder_without_a_run_says_what_to_do(tmp_path):
    with pytest.raises(ReportError, match="aurora run"):
        make_report(tmp_path)
    assert main(["report", str(tmp_path)]) == 2


def test_the_figure_is_legible(tmp_path, monkeypatch):
    """Integer counts, log ticks that do not run into each other, no title cut off."""
    import matplotlib.pyplot as plt

    kept = {}
    monkeypatch.setattr(plt, "close", lambda figure: kept.setdefault("figure", figure))
    rng = np.random.default_rng(3)
    detections = [{"label": "aurora", "confidence": 0.9, "box_px": [1, 2, 3, 4],
                   "lat_deg": float(rng.uniform(-80, 80)), "lon_deg": float(rng.uniform(0, 360)),
                   "peak_r": float(rng.uniform(1.5, 60)), "area_km2": 1e5} for _ in range(25)]
    records = ([{"observation": f"a{i}.fits", "status": "aurora", "detections": detections[i::3]}
                for i in range(3)]
               + [{"observation": f"q{i}.fits", "status": "no_aurora", "detections": []}
                  for i in range(20)]
               + [{"observation": "e.fits", "status": "error", "detections": []}] * 2)
    write_jsonl(tmp_path / "observations.jsonl", records)
    make_report(tmp_path)
    figure = kept["figure"]
    renderer = figure.canvas.get_renderer()
    page = figure.bbox
    for axes in figure.axes:
        title = axes.title.get_window_extent(renderer)
        assert page.x0 <= title.x0 and title.x1 <= page.x1, axes.get_title()
    where, brightness, counts = figure.axes[:3]
    for axes in (brightness, counts):
        for value in axes.get_yticks():
            assert float(value).is_integer()
    labels = [label.get_window_extent(renderer) for label in brightness.get_xticklabels()
              if label.get_text() and label.get_visible()]
    assert len(labels) >= 2
    for left, right in zip(labels, labels[1:], strict=False):
        assert left.x1 < right.x0, "tick labels overlap"
    for axes in figure.axes:
        for label in axes.get_xticklabels() + axes.get_yticklabels():
            assert "$" not in label.get_text(), f"{axes.get_label()}: {label.get_text()!r}"


def test_a_damaged_records_file_is_named_not_a_traceback(tmp_path, capsys):
    good = json.dumps({"observation": "a.fits", "status": "no_aurora", "detections": []})
    (tmp_path / "observations.jsonl").write_text(good + "\n" + '{"observation": "b.fi\n')
    assert main(["report", str(tmp_path)]) == 2
    said = capsys.readouterr().err
    assert "observations.jsonl:2 is not a JSON record" in said and "Traceback" not in said


def test_a_record_without_a_name_is_drawn_without_an_image_set(tmp_path, capsys):
    """The review page shows such a record as "?"; it belongs to no set, and the report goes on."""
    write_jsonl(tmp_path / "observations.jsonl",
                [{"status": "aurora", "detections": [{"lat_deg": 1.0, "lon_deg": 2.0}]}])
    assert main(["report", str(tmp_path)]) == 0
    assert "1 observations, 1 detections" in capsys.readouterr().out
    assert "window.AURORA_IMAGE_SETS = {};" in (tmp_path / "report" / "data.js").read_text()
