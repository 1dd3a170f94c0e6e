#!/usr/bin/env bash
# SIGINT finishes the current step, writes a checkpoint of it and exits 0; resuming continues
# from that step. A second SIGINT ends the process at once without writing.
# Usage: sigint_checkpoint.sh ZOO_BINARY SOURCE_DIR
source "$(dirname "$0")/../support/script_setup.sh"
write_corpus corpus.txt 4 2000
cat > recipe.yaml <<'YAML'
name: sigint
threads: 1
data: {type: text, train: corpus.txt, block_size: 32}
model: {type: gpt, n_layer: 2, n_head: 2, d_model: 64, block_size: 32}
trainer: {type: lm, batch_size: 8, max_steps: 100000, log_every: 1, eval_every: 0, checkpoint_every: 0}
generation: {max_new_tokens: 0}
YAML
"$zoo" train recipe.yaml > train.log 2>&1 &
pid=$!
wait_for_train_events runs/sigint 20
kill -INT $pid
status=0
wait $pid || status=$?
[[ $status -eq 0 ]] || { echo "FAIL: exit code $status after SIGINT"; cat train.log; exit 1; }
last=$(grep '"event":"train"' runs/sigint/metrics.jsonl | tail -1 | sed 's/.*"step":\([0-9]*\).*/\1/')
expected=$(printf 'checkpoints/step_%06d' "$last")
[[ $(cat runs/sigint/latest) == "$expected" ]] || { echo "FAIL: latest is $(cat runs/sigint/latest), expected $expected"; exit 1; }
[[ $last -lt 100000 ]] || { echo "FAIL: ran to the end"; exit 1; }
"$zoo" train --resume runs/sigint trainer.max_steps=$((last + 5)) > resume.log 2>&1
grep -q "resuming from .*step_$(printf '%06d' "$last")" resume.log || { echo "FAIL: did not resume from step $last"; cat resume.log; exit 1; }

# A second SIGINT ends the process at once, before the checkpoint the first asked for.
# (A wider model, so a step outlasts the gap between the signals: two signals pending at once
# would merge into one.)
"$zoo" train recipe.yaml trainer.output_dir=runs/twice model.n_layer=6 model.d_model=256 > twice.log 2>&1 &
pid=$!
wait_for_train_events runs/twice 5
kill -INT $pid
sleep 0.01
kill -INT $pid
status=0
wait $pid || status=$?
[[ $status -eq 130 ]] || { echo "FAIL: exit code $status after two SIGINTs, expected 130 (killed by SIGINT)"; exit 1; }
if ls -d runs/twice/checkpoints/step_* >/dev/null 2>&1; then echo "FAIL: a checkpoint was written"; exit 1; fi
echo "ok: SIGINT after step $last wrote $expected, exited 0, and the run resumed from it; a second SIGINT exited at once (130) writing nothing"
