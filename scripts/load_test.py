"""Load test of the local event stack: many events at the broker's full rate, zero loss.

Sends ``--events`` ``observation.stored`` events as fast as the broker takes
them: ``--observations`` of them for real synthetic files, the rest for keys
that are not in the bucket (preprocess refuses each with 400, the dead-letter
sink stores it and writes its record), so every event must end in exactly one
record. Prints the send rate, the drain time and the per-route latency.

    python scripts/load_test.py --events 2000 --observations 40 [--json]
"""

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from marsaurora.config import Settings
from marsaurora.events import OBSERVATION_STORED, new_event
from marsaurora.layout import BucketLayout
from marsaurora.stack.batch import upload
from marsaurora.stack.local import LocalStack
from marsaurora.synth.generate import SynthSpec, generate


def run(events: int, observations: int, senders: int, timeout_s: float) -> dict:
    """Start a stack, send the events, wait until every record is there; the figures."""
    settings = Settings(log_level="WARNING")
    layout = BucketLayout.from_settings(settings)
    with tempfile.TemporaryDirectory(prefix="aurora-load-") as folder:
        root = Path(folder)
        real = [root / "in" / r["file"]
                for r in generate(SynthSpec(n=observations, seed=909), root / "in")]
        with LocalStack(root / "stack", settings) as stack:
            storage = stack.storage()
            batch = [upload(path, storage, layout) for path in real]
            for index in range(events - len(batch)):
                name = f"emm_emu_l2b_20300101t{index:06d}_9999_osr_sw1of1_r_v01-04.fits.gz"
                batch.append(new_event(OBSERVATION_STORED, "ingest", name, {
                    "bucket": settings.s3_bucket, "key": layout.input_key(f"missing/{name}"),
                    "etag": "", "size": 1}))
            wanted = {layout.record_key(e.get_data()["key"]) for e in batch}
            start = time.perf_counter()
            with ThreadPoolExecutor(senders) as pool:
                list(pool.map(stack.send, batch))
            sent_s = time.perf_counter() - start
            deadline = time.monotonic() + timeout_s
            found: set[str] = set()
            while time.monotonic() < deadline:
                found = storage.keys(layout.records_prefix) & wanted
                if len(found) == len(wanted) and not stack.broker_stats()["pending"]:
                    break
                time.sleep(0.5)
            drained_s = time.perf_counter() - start
            stats = stack.broker_stats()
            errors = sum(json.loads(storage.get(k)[0])["status"] == "error" for k in found)
    return {"events": len(batch), "real_observations": len(real),
            "send_rate_per_s": round(len(batch) / sent_s, 1), "sent_s": round(sent_s, 2),
            "drained_s": round(drained_s, 2), "records": len(found),
            "lost": len(wanted) - len(found), "error_records": errors,
            "broker_counts": stats["counts"], "latency_ms": stats["latency_ms"]}


def main(argv: list[str] | None = None) -> int:
    """Run the load test; exit 1 when any event ended without a record."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--observations", type=int, default=40,
                        help="how many of the events are real synthetic files (default 40)")
    parser.add_argument("--senders", type=int, default=8, help="concurrent senders (default 8)")
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not 0 <= args.observations <= args.events:
        parser.error("need 0 <= --observations <= --events")
    result = run(args.events, args.observations, args.senders, args.timeout)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{result['events']} events ({result['real_observations']} real) sent in "
              f"{result['sent_s']} s ({result['send_rate_per_s']}/s); all records after "
              f"{result['drained_s']} s; lost {result['lost']}")
        for route, latency in sorted(result["latency_ms"].items()):
            if latency.get("n"):
                print(f"  {route}: n {latency['n']}, p50 {latency['p50']} ms, "
                      f"p95 {latency['p95']} ms, max {latency['max']} ms")
    return 1 if result["lost"] else 0


if __name__ == "__main__":
    sys.exit(main())
