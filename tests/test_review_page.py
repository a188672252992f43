"""The review page (``aurora report`` -> ``report/index.html``), driven in a real headless Chromium.

The browser is Debian's ``chromium`` with its ``chromedriver``, driven through
Selenium. Without them the test is skipped, unless ``AURORA_REQUIRE_BROWSER=1``
(``.ci/run`` sets it after installing them), where their absence fails it.
A screenshot of the page goes to ``$AURORA_TEST_ARTIFACTS`` when set, else to
the test's temporary folder.
"""

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from marsaurora.cli import main
from marsaurora.pipeline import heatmap_png_name, overlay_png_name
from marsaurora.preprocess import encode_png
from marsaurora.resume import HEATMAPS_DIR
from marsaurora.review import LOW_CONFIDENCE, needs_a_look

from helpers import write_jsonl

pytest.importorskip("matplotlib")
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
HOSTILE_NAME = "<img src=x onerror=alert(1)>.fits"
N_AURORA, N_QUIET = 60, 40


def _record(index: int, rng: np.random.Generator) -> dict:
    detections = [{"label": "aurora", "decided_by": ("both", "screen", "detector")[k % 3],
                   "confidence": None if k % 3 == 1 else round(float(rng.uniform(0.3, 0.95)), 2),
                   "lat_deg": float(rng.uniform(-80, 80)), "lon_deg": float(rng.uniform(0, 360)),
                   "sza_deg": float(rng.uniform(100, 170)),
                   "local_time_h": float(rng.uniform(0, 24)),
                   "peak_r": float(rng.uniform(2, 60)), "area_km2": float(rng.uniform(1e4, 1e6)),
                   "peak_utc": f"2024-05-{1 + index % 28:02d}T03:{k:02d}:00.000",
                   "ls_deg": float(rng.uniform(0, 360)), "significance": 30.0}
                  for k in range(2 + index % 2)]
    return {"observation": _name(index),
            "status": "aurora", "stage": "catalog", "detections": detections,
            "flagged": [{"confidence": 0.31}] if index == 0 else [],
            "start_utc": "2024-05-01T03:00:00"}


def _name(index: int) -> str:
    """The first three are the swaths of one os2 scan (image set ``OS2_SET``)."""
    if index < 3:
        return (f"emm_emu_l2b_20240501t03{7 * index:02d}00_0191_os2_sw{index + 1}of3_r_"
                "v01-04.fits.gz")
    return f"emm_emu_l2b_2024050{index % 9}t0300{index:02d}_osr_f_v01-04.fits.gz"


OS2_SET = "20240501t030000_os2"


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run: aurora observations with overlays, quiet ones with heatmaps, errors."""
    folder = tmp_path_factory.mktemp("review")
    rng = np.random.default_rng(11)
    records = [_record(i, rng) for i in range(N_AURORA)]
    records += [{"observation": f"quiet_{i:03d}.fits.gz", "status": "no_aurora",
                 "stage": "classify", "detections": []} for i in range(N_QUIET)]
    records += [{"observation": HOSTILE_NAME, "status": "error", "stage": "read",
                 "error": {"code": "not_fits", "message": "neither FITS nor gzip <b>bold</b>"},
                 "detections": []}]
    images = folder / HEATMAPS_DIR
    images.mkdir()
    for record in records[:N_AURORA + N_QUIET]:
        picture = np.zeros((48, 64, 3), np.uint8)
        picture[..., 0] = len(record["observation"]) % 255
        (images / heatmap_png_name(record["observation"])).write_bytes(encode_png(picture))
        if record["detections"]:
            picture[10:20, 10:30] = (0, 255, 255)
            (images / overlay_png_name(record["observation"])).write_bytes(encode_png(picture))
    write_jsonl(folder / "observations.jsonl", records)
    assert main(["report", str(folder)]) == 0
    return folder


def test_needs_a_look_names_each_doubtful_result():
    record = {"detections": [{"decided_by": "screen", "confidence": None, "lat_deg": -0.3,
                              "lon_deg": 10.0},
                             {"decided_by": "both", "confidence": LOW_CONFIDENCE - 0.01},
                             {"decided_by": "both", "confidence": LOW_CONFIDENCE + 0.01}],
              "flagged": [{"confidence": 0.4}]}
    reasons = needs_a_look(record)
    assert len(reasons) == 3
    assert "screen alone" in reasons[0] and " at 0N 10E" in reasons[0]
    assert "low detector confidence 0.49" in reasons[1]
    assert "flagged" in reasons[2]
    assert needs_a_look({"detections": [], "flagged": []}) == []


def test_the_page_and_its_assets_are_written(run_folder):
    page = run_folder / "report" / "index.html"
    assert {p.name for p in page.parent.iterdir()} == {"index.html", "review.css", "review.js",
                                                       "data.js"}
    text = page.read_text()
    assert "{{" not in text and "../report.png" in text
    assert "<img src=x" not in text


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    required = os.environ.get("AURORA_REQUIRE_BROWSER") == "1"
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not shutil.which(p)]
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing.append("selenium")
    if missing:
        message = (f"{', '.join(missing)} missing: apt-get install chromium chromium-driver; "
                   "pip install 'marsaurora[test]'")
        if required:
            pytest.fail(message)
        pytest.skip(message)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                     "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--window-size=1400,2000"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(5)
    try:
        yield driver
    finally:
        driver.quit()


def _column(driver, index: int) -> list[str]:
    from selenium.webdriver.common.by import By

    return [row.find_elements(By.TAG_NAME, "td")[index].text
            for row in driver.find_elements(By.CSS_SELECTOR, "#detections-table tbody tr")]


def _numbers(texts: list[str]) -> list[float]:
    return [float(t.replace(",", "")) for t in texts]


def test_the_page_works_in_a_browser(run_folder, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    driver = browser
    driver.get((run_folder / "report" / "index.html").as_uri())
    records = [json.loads(line) for line in (run_folder / "observations.jsonl").open()]
    total = sum(len(r["detections"]) for r in records)

    # The first page: 100 of the detections, brightest first.
    assert driver.find_element(By.ID, "detections-count").text == f"({total} of {total})"
    assert f"1-100 of {total}" in driver.find_element(By.ID, "detections-pager").text
    peaks = _numbers(_column(driver, 8))
    assert len(peaks) == 100 and peaks == sorted(peaks, reverse=True)

    # Sorting: a click on "lat" sorts up, a second click down.
    latitude = driver.find_element(By.CSS_SELECTOR, "th[data-key='lat_deg']")
    latitude.click()
    assert _numbers(_column(driver, 4)) == sorted(_numbers(_column(driver, 4)))
    assert latitude.get_attribute("aria-sort") == "ascending"
    lowest = min(d["lat_deg"] for r in records for d in r["detections"])
    assert _numbers(_column(driver, 4))[0] == pytest.approx(lowest, abs=0.051)
    latitude.click()
    descending = _numbers(_column(driver, 4))
    assert descending == sorted(descending, reverse=True)

    # Filtering: by decision, then by brightness, then by observation name.
    Select(driver.find_element(By.ID, "filter-decided")).select_by_value("screen")
    screen_only = sum(d["decided_by"] == "screen" for r in records for d in r["detections"])
    assert set(_column(driver, 11)) == {"screen"}
    assert driver.find_element(By.ID, "detections-count").text == f"({screen_only} of {total})"
    driver.find_element(By.ID, "filter-peak").send_keys("30")
    assert all(p >= 30 for p in _numbers(_column(driver, 8)))
    driver.find_element(By.ID, "filter-clear").click()
    name = records[5]["observation"]
    driver.find_element(By.ID, "filter-text").send_keys(name)
    assert set(_column(driver, 0)) == {name}
    assert len(_column(driver, 0)) == len(records[5]["detections"])
    assert set(_column(driver, 1)) == {name}, "a name that is no EMUS name is a set of its own"
    driver.find_element(By.ID, "filter-clear").click()
    driver.find_element(By.ID, "filter-text").send_keys(OS2_SET)
    assert set(_column(driver, 1)) == {OS2_SET}
    assert set(_column(driver, 0)) == {r["observation"] for r in records[:3]}
    driver.find_element(By.ID, "filter-clear").click()

    # A thumbnail opens its overlay; the overlay leads back to its rows.
    assert "60 shown of 101 observations" in driver.find_element(By.ID, "gallery-count").text
    driver.execute_script("document.getElementById('gallery').scrollIntoView()")
    thumbs = driver.find_elements(By.CSS_SELECTOR, "#thumbs figure img")
    assert len(thumbs) == 48
    thumbs[2].click()
    viewer = driver.find_element(By.ID, "viewer")
    assert viewer.get_attribute("open") is not None
    viewed = records[2]["observation"]
    assert driver.find_element(By.ID, "viewer-title").text == viewed
    image = driver.find_element(By.ID, "viewer-image")
    assert image.get_attribute("src").endswith(overlay_png_name(viewed))
    loaded = "const i = document.getElementById('viewer-image');"
    loaded += " return i.complete && i.naturalWidth"
    assert WebDriverWait(driver, 5).until(lambda d: d.execute_script(loaded)) == 64
    driver.find_element(By.ID, "viewer-rows").click()
    assert viewer.get_attribute("open") is None
    assert set(_column(driver, 0)) == {viewed}
    highlighted = driver.find_elements(By.CSS_SELECTOR, "#detections-table tbody tr.highlight")
    assert len(highlighted) == len(records[2]["detections"])
    driver.find_element(By.ID, "filter-clear").click()

    # The gallery can include quiet observations' heatmaps.
    driver.find_element(By.ID, "gallery-all").click()
    assert "100 shown" in driver.find_element(By.ID, "gallery-count").text

    # Errors and the "needs a look" list; a hostile name stays text.
    errors = driver.find_element(By.ID, "errors-table").text
    assert HOSTILE_NAME in errors and "neither FITS nor gzip <b>bold</b>" in errors
    assert driver.find_elements(By.CSS_SELECTOR, "#errors-table img") == []
    look = sum(len(needs_a_look(r)) for r in records)
    assert driver.find_element(By.ID, "look-count").text == f"({look})"
    assert "flagged" in driver.find_element(By.ID, "look-table").text

    problems = [entry["message"] for entry in driver.get_log("browser")
                if entry["level"] == "SEVERE"]
    assert problems == []
    artifacts = Path(os.environ.get("AURORA_TEST_ARTIFACTS", tmp_path))
    artifacts.mkdir(parents=True, exist_ok=True)
    driver.execute_script("window.scrollTo(0, 0)")
    assert driver.save_screenshot(str(artifacts / "review-page.png"))
