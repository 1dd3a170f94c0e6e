#!/usr/bin/env bash
# The course's Week 6 experiment: the classifier of recipes/bert_spam.yaml fine-tuned from the
# pretrained encoder (runs/bert-mlm) against the same classifier trained from scratch, on 100,
# 1,000 and all 4,920 SpamAssassin training emails. Prints a Markdown table: test accuracy and
# spam F1 of the best checkpoint (chosen on the validation emails), and the training time to
# reach that checkpoint (wall time from the start of training to the end of that validation).
# Needs: build/zoo, data/spam-assassin (scripts/fetch_data.sh spam-assassin), runs/bert-mlm.
# Usage: bash scripts/bert_week6.sh [ZOO]   (runs go to runs/week6-*; REUSE=1 keeps finished ones)
set -euo pipefail
cd "$(dirname "$0")/.."
ZOO=${1:-build/zoo}
PY=/usr/bin/python3

# examples  steps  eval_every
sizes=("100 100 20" "1000 200 25" "0 300 50")

echo "| training emails | start | test accuracy | test spam F1 | steps to best | time to best |"
echo "|---:|---|---:|---:|---:|---:|"
for size in "${sizes[@]}"; do
  read -r examples steps every <<<"$size"
  for start in pretrained scratch; do
    name="week6-$start-${examples/#0/all}"
    init=runs/bert-mlm
    [ "$start" = scratch ] && init='""'
    if [[ ${REUSE:-0} == 1 ]] && grep -q '"event":"end"' "runs/$name/metrics.jsonl" 2>/dev/null; then
      echo "$name: reusing the finished run" >&2
    else
      "$ZOO" train recipes/bert_spam.yaml --overwrite name="$name" data.train_examples="$examples" \
        trainer.max_steps="$steps" trainer.eval_every="$every" trainer.init_from="$init" \
        export.torchscript=false >"/tmp/$name.log" 2>&1 || { echo "$name failed; see /tmp/$name.log" >&2; exit 1; }
    fi
    test_json=$("$ZOO" eval "runs/$name" --split test --json)
    "$PY" - "runs/$name/metrics.jsonl" "$test_json" "${examples/#0/4,920}" "$start" <<'PY'
import json, sys
events = [json.loads(line) for line in open(sys.argv[1])]
test = json.loads(sys.argv[2])
start = next(e["time"] for e in events if e["event"] == "start")
evals = [e for e in events if e["event"] == "eval_metrics"]
best = max(evals, key=lambda e: e["f1_spam"])  # the loop's best_metric: the first best is kept
best = next(e for e in evals if e["f1_spam"] == best["f1_spam"])
print(f"| {sys.argv[3]} | {sys.argv[4]} | {test['accuracy']:.3f} | {test['f1_spam']:.3f} | {best['step']} "
      f"| {best['time'] - start:.0f} s |")
PY
  done
done
