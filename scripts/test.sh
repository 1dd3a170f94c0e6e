#!/usr/bin/env bash
# Installs what is missing, builds Release into build/, and runs every test with ctest.
# Extra arguments go to ctest (e.g. -R Gpt, -L stress).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
ctest --test-dir build --output-on-failure -j 2 "$@"
