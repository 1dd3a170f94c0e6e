"""Checks our SentencePiece ids against Python's sentencepiece on the same model and text.

usage: spm_parity.py MODEL_FILE TEXT_FILE IDS_FILE

IDS_FILE holds one line of space-separated ids per line of TEXT_FILE (an empty line for a text
with no ids). Exits 0 printing "N lines identical" when every line's ids equal
SentencePieceProcessor(model_file=MODEL_FILE).encode(line); else prints the first difference
and exits 1.
"""
import sys

import sentencepiece


def read_lines(path):
    with open(path, "rb") as f:
        data = f.read().decode("utf-8")
    lines = data.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def main():
    if len(sys.argv) != 4:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    model_file, text_file, ids_file = sys.argv[1:]
    processor = sentencepiece.SentencePieceProcessor(model_file=model_file)
    texts = read_lines(text_file)
    ours = [[int(i) for i in line.split()] for line in read_lines(ids_file)]
    if len(ours) != len(texts):
        print(f"{ids_file}: {len(ours)} lines of ids for {len(texts)} lines of text")
        return 1
    for number, (text, ids) in enumerate(zip(texts, ours), start=1):
        expected = processor.encode(text)
        if ids != expected:
            first = next((k for k, (a, b) in enumerate(zip(ids, expected)) if a != b), min(len(ids), len(expected)))
            print(f"{text_file}:{number}: ids differ at position {first}")
            print(f"  text:   {text!r}")
            print(f"  ours:   {ids}")
            print(f"  python: {expected}")
            print(f"  pieces: {[processor.id_to_piece(i) for i in expected]}")
            return 1
    print(f"{len(texts)} lines identical")
    return 0


if __name__ == "__main__":
    sys.exit(main())
