"""Peak memory of `aurora report` against the number of records: it must stay flat.

Repeats the records of a finished run (renamed) to each N, draws the report in a
fresh process and prints N, seconds and peak RSS (the largest of any report so
far: sizes run in increasing order, so a growing figure is this N's); the first N
is the baseline.

    python scripts/bench_report.py demo/out --sizes 500,5000,50000
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from marsaurora.resume import RECORDS_FILE


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path, help="a finished `aurora run` --out folder")
    parser.add_argument("--sizes", default="500,5000,50000")
    args = parser.parse_args()
    source = [json.loads(line) for line in (args.run_dir / RECORDS_FILE).open() if line.strip()]
    print("| records | detections | seconds | peak RSS (MB) | RSS / baseline |")
    print("| --- | --- | --- | --- | --- |")
    baseline = None
    for n in sorted(int(v) for v in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as folder:
            with (Path(folder) / RECORDS_FILE).open("w") as sink:
                for i in range(n):
                    model = source[i % len(source)]
                    record = dict(model, observation=f"{i}-{model['observation']}")
                    sink.write(json.dumps(record) + "\n")
            start = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "marsaurora.cli", "report", folder],
                                  capture_output=True, text=True, check=True)
            elapsed = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        baseline = baseline or peak
        detections = done.stdout.split(",")[1].split()[0]
        print(f"| {n} | {detections} | {elapsed:.1f} | {peak:.0f} | {peak / baseline:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
