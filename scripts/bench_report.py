"""Peak memory of `aurora report` (or `aurora catalog`) against the number of records.

Repeats the records of a finished run (renamed) to each N, runs the command in a
fresh process and prints N, seconds and peak RSS (the largest of any run so far:
sizes run in increasing order, so a growing figure is this N's); the first N is
the baseline. The report must stay flat; the catalogue holds every row (and, for
the image sets, every file name) before it writes, so it grows with N.

    python scripts/bench_report.py demo/out --sizes 500,5000,50000
    python scripts/bench_report.py demo/out --sizes 500,5000,50000 --command catalog
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
    parser.add_argument("--command", choices=("report", "catalog"), default="report")
    args = parser.parse_args()
    source = [json.loads(line) for line in (args.run_dir / RECORDS_FILE).open() if line.strip()]
    print("| records | detections | seconds | peak RSS (MB) | RSS / baseline |")
    print("| --- | --- | --- | --- | --- |")
    baseline = None
    for n in sorted(int(v) for v in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as folder:
            detections = 0
            with (Path(folder) / RECORDS_FILE).open("w") as sink:
                for i in range(n):
                    model = source[i % len(source)]
                    record = dict(model, observation=f"{i}-{model['observation']}")
                    sink.write(json.dumps(record) + "\n")
                    detections += len(model.get("detections") or [])
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "marsaurora.cli", args.command, folder],
                           capture_output=True, text=True, check=True)
            elapsed = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        baseline = baseline or peak
        print(f"| {n} | {detections} | {elapsed:.1f} | {peak:.0f} | {peak / baseline:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
