#!/usr/bin/env bash
# Data parallelism on one machine: the quickstart GPT (bench/recipes/gpt_quickstart.yaml) trained
# by 2 ranks x 1 thread (zoo launch, batch 8 a rank) against 1 process x 2 threads (batch 16),
# the same 16 sequences a step, alternately ROUNDS times. Prints each run's tokens/s (every rank
# counted, after the first 10 steps), the median ratio, and the gradient bytes each rank
# all-reduces a step, the time that takes (waiting for the slower rank included) and MB/ms = GB/s.
#   bash bench/data_parallel.sh [STEPS] [ROUNDS]     (defaults 200 and 3)
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-200}
ROUNDS=${2:-3}
ZOO=${ZOO:-build/zoo}
PY=/usr/bin/python3
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
data=$("$PY" bench/make_data.py gpt_quickstart "$OUT/data")
common=(bench/recipes/gpt_quickstart.yaml --overwrite "trainer.max_steps=$STEPS" trainer.log_every=10 $data)
rate() {  # RUN_DIR -> median tokens/s and all-reduce MB a step after step 10
  "$PY" - "$1/metrics.jsonl" <<'PY'
import json, statistics, sys
train = [e for e in map(json.loads, open(sys.argv[1])) if e["event"] == "train" and e["step"] > 10]
mb = [e["all_reduce_mb_per_step"] for e in train if "all_reduce_mb_per_step" in e]
ms = [e["all_reduce_ms_per_step"] for e in train if "all_reduce_ms_per_step" in e]
print(statistics.median(e["tokens_per_s"] for e in train), statistics.median(mb) if mb else 0,
      statistics.median(ms) if ms else 0)
PY
}
printf "%-6s %-22s %10s %14s %14s %10s\n" round side tokens/s "all-reduce MB" "all-reduce ms" "GB/s"
ratios=()
for ((r = 1; r <= ROUNDS; r++)); do
  "$ZOO" train "${common[@]}" threads=2 trainer.batch_size=16 "trainer.output_dir=$OUT/single" > "$OUT/single.log" 2>&1 ||
    { cat "$OUT/single.log"; exit 1; }
  read -r single _ _ < <(rate "$OUT/single")
  "$ZOO" launch --nproc 2 -- train "${common[@]}" threads=1 trainer.batch_size=8 \
    "trainer.output_dir=$OUT/ranks" > "$OUT/ranks.log" 2>&1 || { cat "$OUT/ranks.log"; exit 1; }
  read -r ranks mb ms < <(rate "$OUT/ranks")
  printf "%-6s %-22s %10.0f\n%-6s %-22s %10.0f %14.2f %14.2f %10.2f\n" "$r" "1 process x 2 threads" "$single" \
    "$r" "2 ranks x 1 thread" "$ranks" "$mb" "$ms" "$("$PY" -c "print($mb / max($ms, 1e-9))")"
  ratios+=("$("$PY" -c "print($ranks / $single)")")
done
"$PY" -c "import statistics, sys; print(f'2 ranks x 1 thread / 1 process x 2 threads = {statistics.median(map(float, sys.argv[1:])):.2f}x (median of {len(sys.argv) - 1})')" "${ratios[@]}"
