#!/usr/bin/env bash
# SIGKILL a training run mid-way, resume it, and check that with threads=1 every step's loss
# and the final weights equal those of an uninterrupted run.
# Usage: kill_resume.sh ZOO_BINARY SOURCE_DIR
set -euo pipefail
zoo=$(realpath "$1")
python=/usr/bin/python3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

$python - <<'PY'
import random
random.seed(3)
words = "the cat sat on a mat and dog ran to house in rain while birds sang".split()
with open("corpus.txt", "w") as f:
    for _ in range(3000):
        f.write(" ".join(random.choice(words) for _ in range(9)) + ".\n")
PY

cat > recipe.yaml <<'YAML'
name: kill-resume
seed: 7
threads: 1
tokenizer: {type: char}
data: {type: text, train: corpus.txt, block_size: 32}
model: {type: gpt, n_layer: 2, n_head: 2, d_model: 64, block_size: 32, dropout: 0.1}
trainer:
  type: lm
  batch_size: 8
  max_steps: 120
  log_every: 1
  eval_every: 40
  eval_batches: 2
  checkpoint_every: 10
  keep_last: 2
  optimizer: {type: adamw, lr: 3.0e-3}
  scheduler: {type: cosine, warmup_steps: 10, min_lr: 1.0e-4}
generation: {max_new_tokens: 0}
YAML

"$zoo" train recipe.yaml trainer.output_dir=runs/straight > straight.log 2>&1

"$zoo" train recipe.yaml trainer.output_dir=runs/killed > killed.log 2>&1 &
pid=$!
# Kill once a few checkpoints exist and the run is between two of them.
for _ in $(seq 1 600); do
  steps=$(grep -c '"event":"train"' runs/killed/metrics.jsonl 2>/dev/null || true)
  if [[ ${steps:-0} -ge 55 ]]; then break; fi
  sleep 0.05
done
kill -9 $pid
wait $pid 2>/dev/null || true
killed_at=$(grep -c '"event":"train"' runs/killed/metrics.jsonl)
latest=$(cat runs/killed/latest)
echo "killed after $killed_at logged steps; latest checkpoint: $latest"
[[ $killed_at -lt 120 ]] || { echo "FAIL: the run finished before it was killed"; exit 1; }
if ls -d runs/killed/checkpoints/.tmp-* >/dev/null 2>&1; then echo "(a partial checkpoint was left as .tmp-*, as designed)"; fi

"$zoo" train --resume runs/killed > resumed.log 2>&1
grep -q "resuming from" resumed.log || { echo "FAIL: no resume message"; cat resumed.log; exit 1; }

$python - <<'PY'
import json, sys, torch
def losses(path):
    by_step = {}
    for line in open(path):
        e = json.loads(line)
        if e["event"] in ("train", "eval"):
            by_step[(e["event"], e["step"])] = e.get("loss", e.get("valid_loss"))  # last write wins
    return by_step
a = losses("runs/straight/metrics.jsonl")
b = losses("runs/killed/metrics.jsonl")
assert len([k for k in a if k[0] == "train"]) == 120, "straight run incomplete"
diff = [k for k in a if a[k] != b.get(k)]
if diff:
    k = diff[0]
    sys.exit(f"FAIL: {len(diff)} steps differ; first {k}: straight {a[k]} vs resumed {b.get(k)}")
def weights(run):
    m = torch.jit.load(f"{run}/checkpoints/step_000120/model.pt")
    return {n: p for n, p in m.named_parameters()}
wa, wb = weights("runs/straight"), weights("runs/killed")
assert wa.keys() == wb.keys() and len(wa) > 0
worst = max((wa[n] - wb[n]).abs().max().item() for n in wa)
if worst != 0.0:
    sys.exit(f"FAIL: final weights differ by {worst}")
print(f"ok: {len(a)} train/eval losses equal step for step; {len(wa)} weight tensors bit-identical")
PY
