#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ with clang (AddressSanitizer + UBSan) into build-fuzz/,
# replays their regression inputs (fuzz/regressions/TARGET/), then fuzzes each for SECONDS
# (default 60) from a corpus seeded with the recipes. A crash is written to build-fuzz/ and
# stops the script; add it to fuzz/regressions/TARGET/ once fixed.
#   scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
command -v clang++ >/dev/null || { echo "fuzz: clang++ is needed (scripts/setup.sh installs clang)" >&2; exit 1; }
mkdir -p build-fuzz
flags=(-std=gnu++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize=vptr -I.
       -isystem /usr/include/torch/csrc/api/include -D_GLIBCXX_USE_CXX11_ABI=1
       -DFMT_SHARED -DSPDLOG_COMPILED_LIB -DSPDLOG_FMT_EXTERNAL -DSPDLOG_SHARED_LIB)
build() {  # build TARGET SOURCES... -- LIBS...
  local target=$1; shift
  [[ build-fuzz/$target -nt fuzz/$target.cpp ]] && return 0
  echo "fuzz: building $target" >&2
  clang++ "${flags[@]}" "fuzz/$target.cpp" "$@" -o "build-fuzz/$target"
}
build recipe_fuzzer core/config.cpp core/recipe.cpp core/error.cpp -lyaml-cpp -lfmt
build jsonl_fuzzer datasets/examples.cpp core/files.cpp core/metrics.cpp core/error.cpp tokenizers/utf8.cpp \
  -ltorch -ltorch_cpu -lc10 -lspdlog -lfmt
# The tokenizers link the SentencePiece loader, which names the shim of the Release build.
[[ -f build/libzoo_spm_shim.so ]] || { echo "fuzz: build first (bash scripts/setup.sh)" >&2; exit 1; }
build decode_fuzzer -DZOO_SPM_SHIM_PATH="\"$PWD/build/libzoo_spm_shim.so\"" tokenizers/char.cpp tokenizers/tokenizer.cpp \
  tokenizers/word.cpp tokenizers/sentencepiece.cpp tokenizers/utf8.cpp core/config.cpp core/files.cpp core/error.cpp \
  -ldl -lfmt -lyaml-cpp -lspdlog

mkdir -p build-fuzz/corpus/recipe_fuzzer build-fuzz/corpus/jsonl_fuzzer build-fuzz/corpus/decode_fuzzer
cp recipes/*.yaml tests/data/bad_recipes/*.yaml build-fuzz/corpus/recipe_fuzzer/
printf '\000{"text": "hello", "label": "pos"}\n{"tokens": ["a", "b"], "text": 3}\n' > build-fuzz/corpus/jsonl_fuzzer/seed1
printf '\001{"instruction": "x", "input": "y", "output": "z"}\n{"messages": []}\n' > build-fuzz/corpus/jsonl_fuzzer/seed2
printf '\020the cat sat on the mat\001\000\002\000\005\000\377\377' > build-fuzz/corpus/decode_fuzzer/seed1
printf '\010h\303\251llo w\003\000\011\000' > build-fuzz/corpus/decode_fuzzer/seed2

for target in recipe_fuzzer jsonl_fuzzer decode_fuzzer; do
  regressions=fuzz/regressions/${target%_fuzzer}
  if compgen -G "$regressions/*" >/dev/null; then
    (cd build-fuzz && "./$target" "../$regressions"/* 2>&1 | tail -1)
  fi
  (cd build-fuzz && "./$target" -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 "corpus/$target" 2>&1 |
     grep -E "^stat::number_of_executed_units|^Done|ERROR|SUMMARY") || true
  if compgen -G "build-fuzz/crash-*" >/dev/null; then echo "fuzz: $target crashed; see build-fuzz/crash-*" >&2; exit 1; fi
done
