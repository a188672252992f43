"""Measure one path over a list of files, in its own process, and print JSON.

``python -m marsaurora.bench.paths {baseline,embedded,stack} LIST_FILE``
(one path per line). Run by :mod:`marsaurora.bench.compare` as a child
process so each path's peak memory is its own.
"""

import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from marsaurora.config import Settings
from marsaurora.detect import shipped_model
from marsaurora.pipeline import PipelineOptions
from marsaurora.runner import run_batch

PATHS = ("baseline", "embedded", "stack")


def measure(path_name: str, files: list[Path]) -> dict[str, Any]:
    """Wall time, per-stage milliseconds and peak memory of one path over ``files``."""
    if path_name == "baseline":
        return _baseline(files)
    with tempfile.TemporaryDirectory(prefix=f"bench-{path_name}-") as folder:
        if path_name == "embedded":
            return _embedded(files, Path(folder))
        return _stack(files, Path(folder))


def _baseline(files: list[Path]) -> dict[str, Any]:
    from marsaurora.bench.baseline import BaselinePath

    baseline = BaselinePath(shipped_model("ultralytics"))
    baseline.process(files[0])
    start = time.perf_counter()
    timings = [baseline.process(path)["timings_ms"] for path in files]
    elapsed = time.perf_counter() - start
    return _summary(elapsed, len(files), timings, {"process": _self_rss_mb()})


def _embedded(files: list[Path], out: Path) -> dict[str, Any]:
    summary = run_batch(files, out, PipelineOptions.from_settings(Settings()), workers=0,
                        progress=False)
    timings = [json.loads(line)["timings_ms"] for line in summary.records_path.open()]
    return _summary(summary.elapsed_s, summary.total, timings,
                    {"runner": _self_rss_mb(), "worker (largest)": _children_rss_mb()})


def _stack(files: list[Path], out: Path) -> dict[str, Any]:
    from marsaurora.stack.batch import run_via_events
    from marsaurora.stack.local import LocalStack

    settings = Settings()
    with LocalStack(out / ".stack", settings) as stack:
        before, client_before = stack.cpu_s(), time.process_time()
        summary = run_via_events(files, out, settings, progress=False, stack=stack)
        client_s = time.process_time() - client_before
        peaks = stack.peak_rss_mb()
        cpu = {name: round((spent - before.get(name, 0.0)) * 1000 / len(files), 1)
               for name, spent in stack.cpu_s().items()}
        cpu["client"] = round(client_s * 1000 / len(files), 1)
    timings = [json.loads(line)["timings_ms"] for line in summary.records_path.open()]
    result = _summary(summary.elapsed_s, summary.total, timings, peaks)
    result["hop_latency_ms"] = summary.hop_latency_ms
    result["cpu_ms_per_observation"] = cpu
    return result


def _summary(elapsed_s: float, total: int, timings: list[dict[str, float]],
             rss_mb: dict[str, float]) -> dict[str, Any]:
    stages: dict[str, list[float]] = {}
    for record in timings:
        for stage, ms in record.items():
            stages.setdefault(stage, []).append(ms)
    return {"observations": total, "elapsed_s": round(elapsed_s, 2),
            "observations_per_s": round(total / elapsed_s, 2) if elapsed_s else 0.0,
            "stage_ms": {stage: {"n": len(values), "p50": round(statistics.median(values), 1),
                                 "p95": round(float(np.percentile(values, 95)), 1)}
                         for stage, values in stages.items()},
            "peak_rss_mb": rss_mb}


def _self_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _children_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)


def main(argv: list[str] | None = None) -> int:
    """Measure the named path over the files listed in the given file; print JSON."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] not in PATHS:
        print(f"usage: python -m marsaurora.bench.paths {{{','.join(PATHS)}}} LIST_FILE",
              file=sys.stderr)
        return 2
    files = [Path(line) for line in Path(args[1]).read_text().splitlines() if line]
    print(json.dumps(measure(args[0], files)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
