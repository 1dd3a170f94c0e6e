#!/usr/bin/env bash
# Training speed of the BiLSTM POS tagger (recipes/bilstm_pos_brown.yaml): `zoo train` against
# the same model, data, batch size and optimizer in Python PyTorch (bench/bilstm_tagger.py, on
# /usr/bin/python3's torch, the same libtorch), run alternately ROUNDS times in one go so all
# see the same machine. Three sides: zoo on random batches (what the Python script does, with
# packed sequences), zoo with data.bucket_batches=20 (the recipe's setting: batches of similar
# lengths), and Python. Prints steps/s and padded tokens/s of each run, each side's median and
# the ratios to Python. The first SKIP steps are warm-up and not timed.
#
#   bash bench/bilstm_vs_python.sh [STEPS] [ROUNDS]     (defaults 200 and 2; needs data/brown)
#   SYNTHETIC=1 bash bench/bilstm_vs_python.sh 30 1     (generated sentences instead: ctest's smoke run)
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-200}
ROUNDS=${2:-2}
SKIP=$((STEPS < 40 ? STEPS / 2 : 20))
ZOO=${ZOO:-build/zoo}
PY=/usr/bin/python3
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
TRAIN=data/brown/pos/train.conll
if [[ ${SYNTHETIC:-0} == 1 ]]; then
  TRAIN=$OUT/train.conll
  "$PY" - "$TRAIN" <<'PY'
import random, sys
random.seed(0)
words = [f"w{i}" for i in range(3000)]
with open(sys.argv[1], "w") as f:
    for _ in range(2000):
        for _ in range(random.randint(3, 40)):
            word = random.choice(words)
            f.write(f"{word}\tt{int(word[1:]) % 40}\n")
        f.write("\n")
PY
fi
[[ -f $TRAIN ]] || { echo "bench: $TRAIN missing; run scripts/fetch_data.sh brown" >&2; exit 2; }

# zoo's steps/s between step SKIP and the last step, from the train events' elapsed time. Words
# as tokens (those seen once are <unk>), as the Python script has them, whatever the recipe's tokenizer.
zoo_rate() {
  "$ZOO" train recipes/bilstm_pos_brown.yaml --overwrite name=bench-bilstm trainer.output_dir="$OUT/run" "$@" \
    "tokenizer={type: word, min_count: 2}" trainer.optimizer.lr=2.0e-3 trainer.clip_grad_norm=1.0 \
    trainer.max_steps="$STEPS" trainer.log_every=$SKIP trainer.eval_every=0 trainer.eval_batches=1 \
    trainer.eval_metrics=[] trainer.checkpoint_every=0 export.torchscript=false data.train="$TRAIN" data.valid="$TRAIN" \
    >"$OUT/zoo.log" 2>&1 ||
    { cat "$OUT/zoo.log" >&2; exit 1; }
  "$PY" - "$OUT/run/metrics.jsonl" "$SKIP" <<'PY'
import json, sys
train = [e for e in map(json.loads, open(sys.argv[1])) if e["event"] == "train"]
skip = int(sys.argv[2])
first = next(e for e in train if e["step"] == skip)
last = train[-1]
steps = last["step"] - first["step"]
seconds = last["elapsed_s"] - first["elapsed_s"]
# tokens_per_s of each logged interval times its length gives the tokens trained.
tokens = sum(e["tokens_per_s"] * (e["elapsed_s"] - p["elapsed_s"]) for p, e in zip(train, train[1:]) if p["step"] >= skip)
print(json.dumps({"steps_per_s": steps / seconds, "tokens_per_s": tokens / seconds}))
PY
}

python_rate() { "$PY" bench/bilstm_tagger.py "$TRAIN" "$STEPS" --skip $SKIP --threads 2; }

echo "BiLSTM tagger (2 x 256 bidirectional, batch 32 Brown sentences), $STEPS steps, first $SKIP untimed; OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(unset)}"
printf "%-6s %-12s %10s %12s\n" round side steps/s tokens/s
declare -A rates
for ((r = 1; r <= ROUNDS; r++)); do
  for side in zoo zoo-bucketed python; do
    case $side in
      zoo) json=$(zoo_rate data.bucket_batches=0) ;;
      zoo-bucketed) json=$(zoo_rate data.bucket_batches=20) ;;
      python) json=$(python_rate) ;;
    esac
    read -r steps tokens < <("$PY" -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["steps_per_s"], d["tokens_per_s"])' "$json")
    printf "%-6s %-12s %10.2f %12.0f\n" "$r" "$side" "$steps" "$tokens"
    rates[$side]+="$steps "
  done
done
"$PY" - "${rates[zoo]}" "${rates[zoo-bucketed]}" "${rates[python]}" <<'PY'
import statistics, sys
zoo, bucketed, py = (statistics.median(float(x) for x in arg.split()) for arg in sys.argv[1:4])
print(f"median steps/s: zoo {zoo:.2f}, zoo bucketed {bucketed:.2f}, python {py:.2f}")
print(f"zoo / python = {zoo / py:.2f}x; zoo bucketed / python = {bucketed / py:.2f}x")
PY
