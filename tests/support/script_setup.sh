# Sourced by the scripted tests (tests/scripts, tests/stress), called as NAME.sh ZOO_BINARY
# SOURCE_DIR: sets $zoo, makes a work directory removed on exit and enters it, and offers
# write_corpus.
set -euo pipefail
zoo=$(realpath "$1")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

# write_corpus FILE SEED LINES: LINES sentences of nine words from a small vocabulary.
write_corpus() {
  /usr/bin/python3 - "$@" <<'PY'
import random, sys
path, seed, lines = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
random.seed(seed)
words = "the cat sat on a mat and dog ran to house in rain while birds sang".split()
with open(path, "w") as f:
    for _ in range(lines):
        f.write(" ".join(random.choice(words) for _ in range(9)) + ".\n")
PY
}

# wait_for_train_events RUN_DIR N: until RUN_DIR/metrics.jsonl has N train events (a minute at most).
wait_for_train_events() {
  for _ in $(seq 1 1200); do
    steps=$(grep -c '"event":"train"' "$1/metrics.jsonl" 2>/dev/null) || true
    [[ ${steps:-0} -ge $2 ]] && return 0
    sleep 0.05
  done
  echo "FAIL: $1 never reached $2 training steps"
  exit 1
}
