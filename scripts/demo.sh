#!/usr/bin/env bash
# The demo: make 40 synthetic EMUS L2B observations (plus two broken files),
# run the pipeline over them, and print what it found.
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
cd "$ROOT"
DATA="${1:-demo/data}"
OUT="${2:-demo/out}"
aurora synth --n 40 --seed 1 --out "$DATA"
printf 'this is not a FITS file\n' > "$DATA/broken_not_fits.fits"
head -c 200000 "$(ls "$DATA"/emm_emu_l2b_*.fits.gz | head -n 1)" > "$DATA/broken_truncated.fits.gz"
aurora run "$DATA" --out "$OUT" --png
python - "$OUT/observations.jsonl" "$DATA/truth.jsonl" <<'PY'
import json, sys
records = [json.loads(line) for line in open(sys.argv[1])]
truth = {t["file"]: t for t in map(json.loads, open(sys.argv[2]))}
print(f"\n{'observation':66} {'status':10} {'truth':12} candidates / error")
for r in records:
    known = truth.get(r["observation"])
    label = known["scenario"] if known else "-"
    detail = r["error"]["message"] if r["error"] else ", ".join(
        f"{c['excess_r']:.1f} R at {c['lat_deg']:.0f}N {c['lon_deg']:.0f}E"
        for c in r["candidates"] if "excess_r" in c)
    print(f"{r['observation']:66} {r['status']:10} {label:12} {detail[:90]}")
PY
echo
echo "records: $OUT/observations.jsonl   heatmaps: $OUT/heatmaps/   truth: $DATA/truth.jsonl"
