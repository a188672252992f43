"""The review page of a run: ``OUT/report/index.html``, to vet detections in a browser.

The page is static (no server, no network): ``index.html`` with its style and
script copied from this package, and ``data.js``, the run's observations in a
compact form, written one record at a time as :func:`marsaurora.report.make_report`
reads them. The script makes a sortable, filterable, paginated table of
detections; a gallery of overlays (lazy-loaded, paginated) where a thumbnail
opens its overlay and the overlay leads back to its rows; the errors; and a
"needs a look" list. Images are linked, not copied: they are the run's own
``heatmaps/`` PNGs (``aurora run --png``), one folder up from the page.

What needs a look is decided here, once, so the page only shows it:
detections the detector did not confirm (``decided_by`` screen), detections
the detector saw with low confidence, and detector boxes with no physical
excess under them (flagged).
"""

import html
import json
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import IO, Any

from marsaurora.pipeline import heatmap_png_name, overlay_png_name
from marsaurora.resume import HEATMAPS_DIR

PAGE_DIR = "report"
LOW_CONFIDENCE = 0.5
"""A detector confidence below this puts a detection on the "needs a look" list."""
ASSETS = ("index.html", "review.css", "review.js")
DETECTION_FIELDS = ("peak_utc", "ls_deg", "lat_deg", "lon_deg", "sza_deg", "local_time_h",
                    "peak_r", "area_km2", "confidence", "decided_by", "significance")
"""The detection columns the page shows, in the order ``data.js`` lists them."""


class ReviewPage:
    """Writes the page while a run's records stream past; :meth:`close` finishes it."""

    def __init__(self, run_dir: Path, figure_name: str) -> None:
        self.folder = run_dir / PAGE_DIR
        self.folder.mkdir(parents=True, exist_ok=True)
        self._images = run_dir / HEATMAPS_DIR
        self._figure = f"../{figure_name}"
        self._title = run_dir.resolve().name
        self._data: IO[str] = (self.folder / "data.js").open("w", encoding="utf-8")
        self._data.write("window.AURORA_OBSERVATIONS = [\n")
        self._detected: list[str] = []

    def add(self, record: dict[str, Any]) -> None:
        """One record of ``observations.jsonl``, as JSON; tolerates missing fields."""
        name = str(record.get("observation", "?"))
        error = record.get("error")
        entry = {
            "name": name,
            "status": record.get("status", "error"),
            "start_utc": record.get("start_utc"),
            "heatmap": self._image(heatmap_png_name(name)),
            "overlay": self._image(overlay_png_name(name)),
            "error": ([error.get("code"), error.get("message")]
                      if isinstance(error, dict) else None),
            "stage": record.get("stage"),
            "detections": [[d.get(key) for key in DETECTION_FIELDS]
                           for d in record.get("detections") or []],
            "look": needs_a_look(record),
        }
        self._data.write(json.dumps(entry, separators=(",", ":")) + ",\n")
        if entry["detections"]:
            self._detected.append(name)

    def close(self, summary: str, sets: Mapping[str, str]) -> Path:
        """Finish ``data.js`` (with the image set of each observation that has detections, from
        ``sets``, every name's set; a record without a name has none), copy the page's assets;
        return the path of ``index.html``."""
        self._data.write("];\nwindow.AURORA_FIELDS = "
                         + json.dumps(DETECTION_FIELDS) + ";\nwindow.AURORA_IMAGE_SETS = "
                         + json.dumps({name: sets[name] for name in self._detected
                                      if name in sets},
                                      separators=(",", ":")) + ";\n")
        self._data.close()
        assets = resources.files("marsaurora") / "review_page"
        for name in ASSETS:
            text = (assets / name).read_text(encoding="utf-8")
            if name == "index.html":
                text = (text.replace("{{title}}", html.escape(self._title))
                        .replace("{{summary}}", html.escape(summary))
                        .replace("{{figure}}", html.escape(self._figure)))
            (self.folder / name).write_text(text, encoding="utf-8")
        return self.folder / "index.html"

    def abandon(self) -> None:
        """Stop without a page (the records could not be read); what was written stays
        unfinished, and the next ``aurora report`` writes it again."""
        self._data.close()

    def _image(self, file_name: str) -> str | None:
        if not (self._images / file_name).is_file():
            return None
        return f"../{HEATMAPS_DIR}/{file_name}"


def needs_a_look(record: dict[str, Any]) -> list[str]:
    """Why an observation's result deserves a human's eye, in words; empty when it does not."""
    reasons = []
    for detection in record.get("detections") or []:
        confidence = detection.get("confidence")
        where = _where(detection)
        if detection.get("decided_by") == "screen":
            reasons.append(f"aurora{where} found by the screen alone (no detector box)")
        elif confidence is not None and confidence < LOW_CONFIDENCE:
            reasons.append(f"aurora{where} with low detector confidence {confidence:.2f}")
    for box in record.get("flagged") or []:
        confidence = box.get("confidence")
        said = f" ({confidence:.2f})" if isinstance(confidence, float) else ""
        reasons.append(f"detector box{said} with no physical excess under it (flagged)")
    return reasons


def _where(detection: dict[str, Any]) -> str:
    lat, lon = detection.get("lat_deg"), detection.get("lon_deg")
    if lat is None or lon is None:
        return ""
    return f" at {round(lat)}N {round(lon)}E"

