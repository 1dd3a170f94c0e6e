#!/usr/bin/env bash
# Installs what is missing, builds Release into build/, and runs every test with ctest.
# Extra arguments go to ctest (e.g. -R Gpt, -L stress, -L unit).
#   --asan: instead, build the unit tests with AddressSanitizer + UBSan into build-asan/ and
#           run them (ctest -L unit).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ${1:-} == --asan ]]; then
  shift
  bash scripts/setup.sh --no-build
  generator=()
  if command -v ninja >/dev/null 2>&1; then generator=(-G Ninja); fi
  [[ -f build-asan/CMakeCache.txt ]] ||
    cmake -S . -B build-asan "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DZOO_SANITIZE=ON \
          "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1"
  cmake --build build-asan -j "$(nproc)" --target unit_tests
  # Leak checks off: libtorch and OpenMP keep pools alive to exit, which LeakSanitizer reports.
  export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  exec ctest --test-dir build-asan --output-on-failure -j 2 -L unit "$@"
fi
bash scripts/setup.sh
# The stress tests' size: reduced unless asked (ZOO_STRESS_KILLS=20 bash scripts/test.sh -L stress).
export ZOO_STRESS_KILLS=${ZOO_STRESS_KILLS:-5}
ctest --test-dir build --output-on-failure -j 2 "$@"
