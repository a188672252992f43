"""The whole pipeline on scans of scripts/cleanroom_scans.py, a generator that shares no code
with ``aurora synth``: its files follow the format page's variants (IDL order, centre at
point 4, 192-pixel slits, look-alike row names), its glow and auroras follow laws of their own.
"""

import gzip
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from marsaurora.evaluate import evaluate
from marsaurora.pipeline import PipelineOptions
from marsaurora.runner import discover_inputs, run_batch

from helpers import rewrite

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "cleanroom_scans.py"
SEED = 60
"""Ten scans: six with an aurora at SNR 20 or more, four without, every file variant."""
STRONG_SNR = 20.0


def _script():
    spec = importlib.util.spec_from_file_location("cleanroom_scans", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def cleanroom_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cleanroom")
    truth = _script().generate(folder, 10, SEED, (1.0, 20.0))
    out = folder / "run"
    run_batch(discover_inputs([folder]), out, PipelineOptions(), workers=2, progress=False)
    records = {json.loads(line)["observation"]: json.loads(line)
               for line in (out / "observations.jsonl").read_text().splitlines()}
    return folder, truth, records


def test_the_set_holds_every_file_variant_the_format_page_names(cleanroom_run):
    _, truth, _ = cleanroom_run
    variants = {(line["centre_point"], line["radiance_axes"]) for line in truth}
    assert variants == {(0, "nint,npix"), (0, "npix,nint"), (4, "nint,npix"), (4, "npix,nint")}
    assert {line["npix"] for line in truth} == {128, 192}


def test_strong_auroras_are_found_and_aurora_free_scans_are_not_called(cleanroom_run):
    _, truth, records = cleanroom_run
    strong = [line["file"] for line in truth
              if any(a["snr"] >= STRONG_SNR for a in line["auroras"])]
    free = [line["file"] for line in truth if not line["has_aurora"]]
    assert len(strong) >= 5 and len(free) >= 3
    assert {name: records[name]["status"] for name in strong} == dict.fromkeys(strong, "aurora")
    assert {name: records[name]["status"] for name in free} == dict.fromkeys(free, "no_aurora")


def test_found_auroras_are_where_and_as_bright_as_the_other_generator_drew_them(cleanroom_run):
    folder, _, _ = cleanroom_run
    summary = evaluate(folder / "truth.jsonl", folder / "run" / "observations.jsonl")
    assert summary.errors == 0
    assert summary.auroras_matched >= 0.8 * summary.auroras_injected
    assert summary.position_error_median_deg < 0.5
    assert 0.67 < summary.peak_over_injected["median"] < 1.5


def _triplet(hdul) -> int:
    return [str(name).strip() for name in hdul["EMISS"].data["NAME"]].index("O I 130.4 triplet")


def test_broken_copies_of_its_scans_are_refused_readably_and_the_batch_goes_on(cleanroom_run,
                                                                               tmp_path):
    """Damage done to files the reader was never shaped on: gzip and plain FITS cut short, the
    triplet row misspelt beside its look-alikes, no finite brightness, integrations blanked along
    whichever axis this file's layout puts them on, and a header of 20,000 cards."""
    folder, truth, _ = cleanroom_run
    strong = next(line for line in truth if any(a["snr"] >= STRONG_SNR for a in line["auroras"]))
    source = folder / strong["file"]
    packed = source.read_bytes()
    plain = gzip.decompress(packed)
    (tmp_path / "intact.fits.gz").write_bytes(packed)
    (tmp_path / "cut.fits.gz").write_bytes(packed[:len(packed) // 3])
    (tmp_path / "halved.fits").write_bytes(plain[:len(plain) // 2])

    def misspelt(hdul):
        hdul["EMISS"].data["NAME"][_triplet(hdul)] = "O I 130.4 trip1et"

    def blank(hdul):
        hdul["EMISS"].data["RADIANCE"][_triplet(hdul)] = np.nan

    def striped(hdul):
        radiance = hdul["EMISS"].data["RADIANCE"]
        axis = 1 + list(radiance.shape[1:]).index(strong["nint"])
        every_seventh = [slice(None)] * radiance.ndim
        every_seventh[axis] = slice(None, None, 7)
        radiance[tuple(every_seventh)] = np.nan

    def padded(hdul):
        for k in range(20_000):
            hdul[0].header.add_comment(f"padding card {k}")

    for name, change in [("misspelt", misspelt), ("blank", blank), ("striped", striped),
                         ("padded", padded)]:
        rewrite(source, tmp_path / f"{name}.fits", change)
    out = tmp_path / "run"
    run_batch(discover_inputs([tmp_path]), out, PipelineOptions(), workers=1, progress=False)
    records = {json.loads(line)["observation"].split(".")[0]: json.loads(line)
               for line in (out / "observations.jsonl").read_text().splitlines()}

    outcome = {name: record["error"]["code"] if record["error"] else record["status"]
               for name, record in records.items()}
    assert outcome == {"intact": "aurora", "cut": "truncated", "halved": "truncated",
                       "misspelt": "missing_emission", "blank": "no_valid_data",
                       "striped": "aurora", "padded": "aurora"}
    refusal = records["misspelt"]["error"]["message"]
    assert "'O I 130.4 continuum background'" in refusal and "'O I 130.4 trip1et'" in refusal


def test_the_hard_ranges_draw_fainter_and_smaller_auroras(tmp_path):
    script = _script()
    hard = script.RANGES["hard"]
    truth = script.generate(tmp_path, 6, 3, (1.0, 1.5), "hard")
    auroras = [a for line in truth for a in line["auroras"]]
    assert auroras and all(line["ranges"] == "hard" for line in truth)
    assert all(hard.peak_r[0] <= a["peak_r"] <= hard.peak_r[1] for a in auroras)
    assert all(a["size_km"] <= hard.spot_fwhm_km[1] for a in auroras if a["type"] == "spot")
