"""`aurora bench` at a small N: it completes and its numbers are sane (not fast: that is a
benchmark's job, on a quiet machine)."""

import json
import subprocess
import sys

from marsaurora.bench.compare import TARGETS


def test_bench_smoke_run_measures_every_path(tmp_path):
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
    assert len(results["targets"]) == len(TARGETS)
    assert {t["status"] for t in results["targets"].values()} <= {"PASS", "FAIL"}
    assert results["machine"]["cpus"] >= 1
