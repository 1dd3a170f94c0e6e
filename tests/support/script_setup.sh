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
