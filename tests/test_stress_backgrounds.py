"""scripts/stress_backgrounds.py: a row per law, the redrawn scan keeps the file's geometry,
missing pixels and off-disk light, and its errors are the Poisson errors of its counts."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from marsaurora.emus import read_l2b
from marsaurora.synth.generate import SynthSpec, generate

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "stress_backgrounds.py"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("redrawn")
    list(generate(SynthSpec(n=3, seed=43, scenarios=("quiet_night",), compress=False), path))
    return path


def _script():
    spec = importlib.util.spec_from_file_location("stress_backgrounds", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_each_law_is_a_row(folder):
    done = subprocess.run([sys.executable, str(SCRIPT), str(folder),
                           "--laws", "smooth,patchy:0.2:8", "--workers", "1"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line.split("|")[1:-1] for line in done.stdout.splitlines()[2:]]
    assert [r[0].strip() for r in rows] == ["smooth", "patchy:0.2:8"]
    assert all(int(r[1]) == 3 and float(r[2]) >= 0 for r in rows)


def test_an_unknown_law_is_refused_with_the_ones_there_are(folder):
    done = subprocess.run([sys.executable, str(SCRIPT), str(folder), "--laws", "ripple"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "smooth or patchy:AMPLITUDE:SCALE_PX" in done.stderr


@pytest.mark.parametrize("law", ["smooth", "patchy:0.4:8"])
def test_the_redrawn_scan_is_poisson_and_keeps_the_files_sky(folder, law):
    observation = read_l2b(next(folder.glob("*.fits")))
    observation.brightness_r[5, :] = np.nan
    brightness, error = _script().redrawn_brightness(observation, law,
                                                    np.random.default_rng(1))
    assert np.isnan(brightness[5]).all() and np.isnan(error[5]).all()
    off_disk = ~observation.on_disk & np.isfinite(observation.brightness_r)
    assert not np.array_equal(brightness[observation.on_disk & np.isfinite(brightness)],
                              observation.brightness_r[observation.on_disk
                                                       & np.isfinite(brightness)])
    counted = np.isfinite(brightness) & (brightness > 0)
    gain = brightness[counted] / error[counted] ** 2
    assert np.allclose(gain, gain[0])
    counts = brightness[np.isfinite(brightness)] * gain[0]
    assert np.allclose(counts, np.round(counts), atol=1e-6)
    expected_counts = np.clip(observation.brightness_r[off_disk], 0, None).sum() * gain[0]
    drawn_counts = brightness[off_disk].sum() * gain[0]
    assert abs(drawn_counts - expected_counts) < 5 * np.sqrt(expected_counts + 1)


def test_the_gain_given_is_the_gain_drawn(folder):
    observation = read_l2b(next(folder.glob("*.fits")))
    brightness, error = _script().redrawn_brightness(observation, "smooth",
                                                    np.random.default_rng(2), (40.0, 40.0))
    counted = np.isfinite(brightness) & (brightness > 0)
    assert np.allclose(brightness[counted] / error[counted] ** 2, 40.0)


def test_an_upside_down_gain_is_refused(folder):
    done = subprocess.run([sys.executable, str(SCRIPT), str(folder), "--gain", "40:10"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "need 0 < LOW <= HIGH" in done.stderr


def test_smooth_night_glows_by_other_laws_pass_no_quiet_scan(tmp_path):
    """Other dayglow tails, limb laws and planet-wide gradients are background: the screen
    passes none of 24 scans redrawn by them (0.3% of 2900 did, at limb and terminator)."""
    list(generate(SynthSpec(n=24, seed=44, scenarios=("quiet_night", "crescent"),
                            compress=False), tmp_path))
    screened = _script().screened
    results = [screened(path, "smooth") for path in sorted(tmp_path.glob("*.fits"))]
    assert len(results) == 24
    assert not any(passed for _, passed in results), max(best for best, _ in results)
