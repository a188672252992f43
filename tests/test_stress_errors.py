"""scripts/stress_errors.py: one table row per variant, and the unchanged variant is the
excess map of the file as it is."""

import subprocess
import sys
from pathlib import Path

from marsaurora.classify.excess import excess_map
from marsaurora.emus import read_l2b
from marsaurora.synth.generate import SynthSpec, generate

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "stress_errors.py"


def test_each_variant_is_a_row_and_no_variant_is_the_file_itself(tmp_path):
    truth = list(generate(SynthSpec(n=4, seed=41, scenarios=("quiet_night",), compress=False),
                          tmp_path))
    done = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path), "--variants=0:0,-0.1:0.05",
                           "--workers", "1"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line.split("|")[1:-1] for line in done.stdout.splitlines()[2:]]
    assert [(float(r[0]), float(r[1])) for r in rows] == [(0.0, 0.0), (-0.1, 0.05)]
    plain = max(excess_map(read_l2b(tmp_path / t["file"])).strongest_significance for t in truth)
    assert float(rows[0][3]) == round(plain, 2)
    assert all(int(r[2]) == 4 for r in rows)
