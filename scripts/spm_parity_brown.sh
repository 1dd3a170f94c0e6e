#!/usr/bin/env bash
# Trains an 8k BPE model on Brown with `zoo tokenizer train`, encodes 1,000 Brown sentences
# with `zoo tokenizer encode --file`, and checks Python's sentencepiece gives the same ids.
#
#   scripts/spm_parity_brown.sh [--type bpe|unigram] [--vocab-size N]
# Needs data/brown (scripts/fetch_data.sh brown) and a built zoo (ZOO=..., default build/zoo).
set -euo pipefail
cd "$(dirname "$0")/.."

ZOO=${ZOO:-build/zoo}
TYPE=bpe
VOCAB=8000
while (($#)); do
  case $1 in
    --type) TYPE=$2; shift 2 ;;
    --vocab-size) VOCAB=$2; shift 2 ;;
    *) echo "usage: $0 [--type bpe|unigram] [--vocab-size N]" >&2; exit 2 ;;
  esac
done
[[ -x $ZOO ]] || { echo "$ZOO not found: build first: bash scripts/setup.sh" >&2; exit 1; }
[[ -f data/brown/train.txt ]] || { echo "data/brown not found: run scripts/fetch_data.sh brown" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$ZOO" tokenizer train --input data/brown/train.txt --type "$TYPE" --vocab-size "$VOCAB" --out "$work/tokenizer"
# The first 1,000 sentences of the held-out documents: paragraphs split after . ! ? before a
# capital or an opening quote.
/usr/bin/python3 - data/brown/valid.txt "$work/sentences.txt" <<'PY'
import re, sys
sentences = []
for paragraph in open(sys.argv[1], encoding="utf-8"):
    sentences += [s for s in re.split(r'(?<=[.!?])\s+(?=["A-Z])', paragraph.strip()) if s]
open(sys.argv[2], "w", encoding="utf-8").write("\n".join(sentences[:1000]) + "\n")
PY
"$ZOO" tokenizer encode "$work/tokenizer" --file "$work/sentences.txt" >"$work/ids.txt"
/usr/bin/python3 tests/python/spm_parity.py "$work/tokenizer/tokenizer.model" "$work/sentences.txt" "$work/ids.txt"
