#!/usr/bin/env bash
# The quickstart: set up, build, fetch the Brown corpus, train the char-level GPT (about 5
# minutes on two cores), print a sample, and export it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/fetch_data.sh brown
./build/zoo train recipes/quickstart.yaml --overwrite "$@"
./build/zoo generate runs/quickstart --checkpoint best --prompt "The jury said" --max-new-tokens 300
./build/zoo export runs/quickstart
./build/zoo generate --torchscript runs/quickstart/export/model.pt --prompt "The jury said" --max-new-tokens 100
