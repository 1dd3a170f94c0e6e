#!/usr/bin/env bash
# A checkpoint that cannot be written stops the run cleanly: a file size limit (what a full disk
# does to a write) set on the running process after its first checkpoint makes the next one fail.
# The run exits 2 with one line naming the step and the intact previous checkpoint, leaves no
# partial checkpoint, and resumes from it once the limit is gone.
# Usage: checkpoint_write_error.sh ZOO_BINARY SOURCE_DIR
source "$(dirname "$0")/../support/script_setup.sh"
write_corpus corpus.txt 5 2000
cat > recipe.yaml <<'YAML'
name: full
seed: 3
threads: 1
tokenizer: {type: char}
data: {type: text, train: corpus.txt, block_size: 32}
model: {type: gpt, n_layer: 2, n_head: 2, d_model: 64, block_size: 32}
trainer: {type: lm, batch_size: 8, max_steps: 100000, log_every: 10, eval_every: 0, checkpoint_every: 40}
generation: {max_new_tokens: 0}
YAML
"$zoo" train recipe.yaml > train.log 2> train.err &
pid=$!
for _ in $(seq 1 1000); do [[ -d runs/full/checkpoints/step_000040 ]] && break; sleep 0.01; done
[[ -d runs/full/checkpoints/step_000040 ]] || { echo "FAIL: no first checkpoint"; cat train.err; exit 1; }
# 64 KB per file: the metrics log still grows, model.pt (about 420 KB) cannot be written.
prlimit --pid "$pid" --fsize=65536
status=0
wait "$pid" || status=$?
[[ $status -eq 2 ]] || { echo "FAIL: exit code $status, expected 2"; cat train.err; exit 1; }
# Besides the progress lines (stderr too), one line.
[[ $(grep -v '^step [0-9]*/' train.err | grep -c .) -eq 1 ]] || { echo "FAIL: stderr is not one line:"; cat train.err; exit 1; }
grep -q "runs/full: cannot write the checkpoint of step 80 (.*); the previous checkpoint runs/full/checkpoints/step_000040 is intact; make room or fix the directory, then continue with zoo train --resume runs/full" train.err ||
  { echo "FAIL: unexpected message:"; cat train.err; exit 1; }
if ls -d runs/full/checkpoints/.tmp-* runs/full/checkpoints/step_000080 >/dev/null 2>&1; then
  echo "FAIL: a partial checkpoint was left"; ls -la runs/full/checkpoints; exit 1
fi
/usr/bin/python3 -c "import torch; torch.jit.load('runs/full/checkpoints/step_000040/model.pt')"
"$zoo" train --resume runs/full trainer.max_steps=45 > resume.log 2>&1
grep -q "resuming from runs/full/checkpoints/step_000040 (step 40)" resume.log || { echo "FAIL: did not resume from step 40"; cat resume.log; exit 1; }
echo "ok: the failed checkpoint of step 80 stopped the run with one line (exit 2); step 40 intact and resumed"
