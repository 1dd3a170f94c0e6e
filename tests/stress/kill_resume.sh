#!/usr/bin/env bash
# Crash safety: SIGKILL a training run at random moments (during steps, evaluations and checkpoint
# writes alike) ZOO_STRESS_KILLS times (default 20), resuming after each. After every kill: each
# checkpoint directory is complete and loads, and the resume starts from the newest one. At the
# end (threads: 1) the weights equal an uninterrupted run's bit for bit.
# Usage: kill_resume.sh ZOO_BINARY SOURCE_DIR
source "$(dirname "$0")/../support/script_setup.sh"
kills=${ZOO_STRESS_KILLS:-20}
python=/usr/bin/python3
write_corpus corpus.txt 3 3000

# Checkpoints every 3 steps, so that a good share of the kills land inside a checkpoint write.
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
  max_steps: 2400
  log_every: 1
  eval_every: 25
  eval_batches: 2
  checkpoint_every: 3
  keep_last: 3
  optimizer: {type: adamw, lr: 3.0e-3}
  scheduler: {type: cosine, warmup_steps: 10, min_lr: 1.0e-4}
generation: {max_new_tokens: 0}
YAML

"$zoo" train recipe.yaml trainer.output_dir=runs/straight > straight.log 2>&1

# Every step directory (and best) must hold a whole checkpoint whose weights load.
check_checkpoints() {
  $python - "$1" <<'PY'
import os, sys, torch
run = sys.argv[1]
need = ["model.pt", "optimizer.pt", "rng.pt", "state.json", "data_state.bin", "recipe.yaml", "tokenizer"]
names = os.listdir(f"{run}/checkpoints") if os.path.isdir(f"{run}/checkpoints") else []
paths = [f"{run}/checkpoints/{n}" for n in sorted(names) if n.startswith("step_")]
if os.path.exists(f"{run}/best") or os.path.exists(f"{run}/.old-best"):
    paths.append(f"{run}/best")  # once published, best is always there and whole
for path in paths:
    missing = [n for n in need if not os.path.exists(f"{path}/{n}")]
    if missing:
        sys.exit(f"FAIL: {path} is partial: no {', '.join(missing)}")
    try:
        torch.jit.load(f"{path}/model.pt")
    except Exception as e:
        sys.exit(f"FAIL: {path}/model.pt does not load: {e}")
PY
}

# The checkpoint a resume must start from: the newest complete step directory.
newest() { { ls -d runs/killed/checkpoints/step_* 2>/dev/null || true; } | sort | tail -1; }

RANDOM=11
killed=0 in_writes=0 lives=0
"$zoo" train recipe.yaml trainer.output_dir=runs/killed > life_0.log 2>&1 &
pid=$!
while true; do
  if [[ $((killed % 3)) -eq 2 ]]; then
    # Every third kill aims at a checkpoint write: the moment its temporary directory appears.
    for _ in $(seq 1 300000); do compgen -G "runs/killed/checkpoints/.tmp-*" >/dev/null && break; done
  else
    # Otherwise 0.2 to 1.5 s into this life (a resume takes about 0.3 s to start).
    sleep "$(printf '0.%d' $((RANDOM % 9 + 2)))"
    if [[ $((RANDOM % 2)) -eq 0 ]]; then sleep 0.6; fi
  fi
  if ! kill -0 $pid 2>/dev/null; then
    wait $pid || { echo "FAIL: the run failed on its own"; cat "life_$lives.log"; exit 1; }
    break  # finished
  fi
  kill -9 $pid
  wait $pid 2>/dev/null || true
  killed=$((killed + 1))
  if ls -d runs/killed/checkpoints/.tmp-* >/dev/null 2>&1; then in_writes=$((in_writes + 1)); fi
  check_checkpoints runs/killed
  expected=$(newest)
  lives=$((lives + 1))
  if [[ -z $expected ]]; then
    # Killed before the first checkpoint: start over.
    "$zoo" train recipe.yaml trainer.output_dir=runs/killed --overwrite > "life_$lives.log" 2>&1 &
  elif [[ $killed -ge $kills ]]; then
    "$zoo" train --resume runs/killed > "life_$lives.log" 2>&1 || { echo "FAIL: the last resume failed"; cat "life_$lives.log"; exit 1; }
    grep -q "resuming from runs/killed/checkpoints/${expected##*/} " "life_$lives.log" ||
      { echo "FAIL: resumed from other than $expected"; grep resuming "life_$lives.log"; exit 1; }
    break
  else
    "$zoo" train --resume runs/killed > "life_$lives.log" 2>&1 &
  fi
  pid=$!
  if [[ -n $expected ]]; then
    # The resume names its checkpoint in its first lines.
    for _ in $(seq 1 100); do grep -q "resuming from" "life_$lives.log" 2>/dev/null && break; sleep 0.02; done
    if grep -q "resuming from" "life_$lives.log"; then
      grep -q "resuming from runs/killed/checkpoints/${expected##*/} " "life_$lives.log" ||
        { echo "FAIL: resumed from other than $expected"; grep resuming "life_$lives.log"; exit 1; }
    fi
  fi
done
check_checkpoints runs/killed
[[ $killed -ge $kills ]] || { echo "FAIL: the run ended after $killed kills, before $kills"; exit 1; }

$python - "$killed" "$in_writes" <<'PY'
import sys, torch
def weights(run):
    m = torch.jit.load(f"{run}/checkpoints/step_002400/model.pt")
    return {n: p for n, p in m.named_parameters()}
wa, wb = weights("runs/straight"), weights("runs/killed")
assert wa.keys() == wb.keys() and len(wa) > 0
worst = max((wa[n] - wb[n]).abs().max().item() for n in wa)
if worst != 0.0:
    sys.exit(f"FAIL: final weights differ by {worst}")
print(f"ok: {sys.argv[1]} kills ({sys.argv[2]} inside a checkpoint write), 0 partial or unreadable checkpoints, "
      f"every resume from the newest; {len(wa)} weight tensors bit-identical to the uninterrupted run")
PY
