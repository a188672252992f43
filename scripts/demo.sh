#!/usr/bin/env bash
# The demo: make 40 synthetic EMUS L2B observations (plus two broken files),
# run the pipeline over them (screen, YOLO detector, catalogue), print what it
# found next to the injected truth, score it, and draw the summary figure.
# Installs only what the demo runs (the pipeline and the figure), not the training stack.
export AURORA_EXTRAS="report"
# shellcheck source=scripts/_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
cd "$ROOT" || exit 1
DATA="${1:-demo/data}"
OUT="${2:-demo/out}"
aurora synth --n 40 --seed 1 --out "$DATA"
printf 'this is not a FITS file\n' > "$DATA/broken_not_fits.fits"
made=("$DATA"/emm_emu_l2b_*.fits.gz)
head -c 200000 "${made[0]}" > "$DATA/broken_truncated.fits.gz"
aurora run "$DATA" --out "$OUT" --png
python - "$OUT/observations.jsonl" "$DATA/truth.jsonl" <<'PY'
import json, sys
from marsaurora.overlay import place_text
records = [json.loads(line) for line in open(sys.argv[1])]
truth = {t["file"]: t for t in map(json.loads, open(sys.argv[2]))}
print(f"\n{'observation':66} {'status':10} {'truth':12} detections / error")
for r in records:
    known = truth.get(r["observation"])
    label = known["scenario"] if known else "-"
    detail = r["error"]["message"] if r["error"] else ", ".join(
        f"{d['peak_r']:.1f} R at {place_text(d['lat_deg'], d['lon_deg'])} ({d['decided_by']}"
        + (f" {d['confidence']:.2f})" if d.get("confidence") is not None else ")")
        for d in r["detections"] if d.get("lat_deg") is not None)
    print(f"{r['observation']:66} {r['status']:10} {label:12} {detail[:90]}")
PY
echo
python scripts/evaluate.py "$DATA/truth.jsonl" "$OUT/observations.jsonl"
aurora report "$OUT"
echo "records: $OUT/observations.jsonl   catalogue: $OUT/catalog.ecsv   heatmaps and overlays: $OUT/heatmaps/"
echo "figure: $OUT/report.png   review page (open in a browser): $OUT/report/index.html   truth: $DATA/truth.jsonl"
