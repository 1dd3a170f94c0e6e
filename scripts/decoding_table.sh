#!/usr/bin/env bash
# The table of docs/decoding.md: one trained run's continuations of one prompt under each
# decoding strategy, with the model's perplexity of what it generated, distinct-2 within a
# continuation (how much it repeats itself) and self-BLEU across draws (how alike they are).
#   bash scripts/decoding_table.sh [RUN_DIR] [PROMPT]      (default: runs/quickstart, "The jury said ")
set -euo pipefail
run=${1:-runs/quickstart}
prompt=${2:-The jury said }
zoo=${ZOO:-build/zoo}
common=(--prompt "$prompt" --max-new-tokens 200 --seed 1)

strategies=(
  "greedy|--strategy greedy"
  "greedy, repetition penalty 1.3|--strategy greedy --repetition-penalty 1.3"
  "beam 4 (4 best)|--beam 4 --num-return 4"
  "sample, temperature 1.0|--preset creative --top-p 1 --num-return 8"
  "sample, temperature 0.7|--preset creative --top-p 1 --temperature 0.7 --num-return 8"
  "top-k 40|--preset creative --top-p 1 --top-k 40 --num-return 8"
  "top-p 0.9 (nucleus)|--preset creative --top-p 0.9 --num-return 8"
  "typical-p 0.9|--preset creative --top-p 1 --typical-p 0.9 --num-return 8"
  "min-p 0.1|--preset creative --top-p 1 --min-p 0.1 --num-return 8"
  "preset balanced (T 0.7, top-p 0.9)|--preset balanced --num-return 8"
  "preset creative (T 1.0, top-p 0.95)|--preset creative --num-return 8"
)

echo "| strategy | flags | first continuation of \"$prompt\" | perplexity | distinct-2 | self-BLEU |"
echo "|---|---|---|---:|---:|---:|"
for entry in "${strategies[@]}"; do
  label=${entry%%|*}
  flags=${entry#*|}
  # shellcheck disable=SC2086  # flags split into words on purpose
  "$zoo" generate "$run" --json "${common[@]}" $flags |
    /usr/bin/python3 -c '
import json, sys
label, flags = sys.argv[1], sys.argv[2]
out = json.load(sys.stdin)
seqs = out["sequences"]
mean = lambda key: sum(s[key] for s in seqs) / len(seqs)
text = seqs[0]["text"].replace("\n", " ").replace("|", "\\|")
text = text[:110] + ("…" if len(text) > 110 else "")
self_bleu = "%.1f" % out["self_bleu"] if "self_bleu" in out else "–"
print("| %s | `%s` | %s | %.2f | %.2f | %s |" % (label, flags, text, mean("perplexity"), mean("distinct_2"), self_bleu))
' "$label" "$flags"
done
