"""scripts/load_test.py at a bounded size: every event ends in exactly one record."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_five_hundred_events_at_full_rate_lose_nothing():
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "load_test.py"), "--events",
                           "500", "--observations", "10", "--json"], capture_output=True,
                          text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["records"] == result["events"] == 500 and result["lost"] == 0
    assert result["error_records"] == 490
    counts = result["broker_counts"]
    assert counts.get("lost", 0) == 0 and counts["dead_lettered"] == 490
    assert result["latency_ms"]["aurora-preprocess (dead letter)"]["n"] == 490
