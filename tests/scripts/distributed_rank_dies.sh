#!/usr/bin/env bash
# Two ranks under `zoo launch`; one is killed mid-run: the launch stops the other and exits
# non-zero, the checkpoint rank 0 had written stays intact, and Ctrl-C to the launch stops both
# ranks at one step with a checkpoint (exit 0).
# Usage: distributed_rank_dies.sh ZOO_BINARY SOURCE_DIR
source "$(dirname "$0")/../support/script_setup.sh"
write_corpus corpus.txt 5 2000
cat > recipe.yaml <<'YAML'
name: dies
threads: 1
data: {type: text, train: corpus.txt, block_size: 32}
model: {type: gpt, n_layer: 2, n_head: 2, d_model: 64, block_size: 32}
trainer: {type: lm, batch_size: 8, max_steps: 100000, log_every: 1, eval_every: 0, checkpoint_every: 20,
          distributed_timeout_s: 30}
generation: {max_new_tokens: 0}
YAML
"$zoo" launch --nproc 2 -- train recipe.yaml > launch.log 2>&1 &
launcher=$!
wait_for_train_events runs/dies 30
ranks=($(pgrep -P $launcher))
[[ ${#ranks[@]} -eq 2 ]] || { echo "FAIL: expected 2 ranks under the launcher, found ${#ranks[@]}"; cat launch.log; exit 1; }
kill -KILL "${ranks[1]}"
status=0
timeout 120 tail --pid=$launcher -f /dev/null || { echo "FAIL: the launch did not end after a rank died"; exit 1; }
wait $launcher || status=$?
[[ $status -ne 0 ]] || { echo "FAIL: the launch exited 0 after a rank was killed"; cat launch.log; exit 1; }
killed_status=$status
grep -q "rank 1 exited with 137; stopping the other ranks" launch.log || { echo "FAIL: no line naming the dead rank"; cat launch.log; exit 1; }
pgrep -P $launcher > /dev/null && { echo "FAIL: a rank outlived the launch"; exit 1; }
"$zoo" eval runs/dies --checkpoint latest --json --data corpus.txt > eval.json 2>eval.err || { echo "FAIL: the last checkpoint does not load"; cat eval.err; exit 1; }

# Ctrl-C reaches both ranks; they agree on the step, rank 0 writes it, and the launch exits 0.
"$zoo" launch --nproc 2 -- train recipe.yaml trainer.output_dir=runs/stop > stop.log 2>&1 &
launcher=$!
wait_for_train_events runs/stop 10
kill -INT $launcher
status=0
wait $launcher || status=$?
[[ $status -eq 0 ]] || { echo "FAIL: exit code $status after Ctrl-C"; cat stop.log; exit 1; }
last=$(grep '"event":"train"' runs/stop/metrics.jsonl | tail -1 | sed 's/.*"step":\([0-9]*\).*/\1/')
[[ $(cat runs/stop/latest) == $(printf 'checkpoints/step_%06d' "$last") ]] ||
  { echo "FAIL: latest is $(cat runs/stop/latest), the last step $last"; cat stop.log; exit 1; }
echo "ok: a killed rank stopped the launch (exit $killed_status), Ctrl-C stopped both ranks at step $last"
