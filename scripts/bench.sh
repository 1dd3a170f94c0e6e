#!/usr/bin/env bash
# Builds Release (build/, as scripts/setup.sh does) and times torchzoo against the same models in
# plain Python PyTorch on the same libtorch, side by side (bench/compare.py; bench/NOTES.md says
# what each case is and what changed its figures).
#   bash scripts/bench.sh [CASE ...] [--rounds N] [--threads N] [--python-defaults] [--json FILE]
# With no case, all of them (about 25 minutes on two cores); `--rounds 1 gpt_quickstart` is quick.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake --build build -j "$(nproc)" --target zoo bench_generate
exec /usr/bin/python3 bench/compare.py --zoo build/zoo --bench-generate build/bench/bench_generate "$@"
