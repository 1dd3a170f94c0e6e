#!/usr/bin/env python3
"""Synthetic data for the benchmark cases that read files (bench/reference.py, bench/recipes/).

    /usr/bin/python3 bench/make_data.py CASE OUTDIR

writes OUTDIR/train.* and OUTDIR/valid.* in the format the case's data type reads (docs/data.md)
and prints the `key=value` overrides `zoo train bench/recipes/CASE.yaml` needs to read them;
`bench/reference.py CASE --data OUTDIR` reads the same files. The same CASE always gives the
same bytes (fixed seeds). Lengths follow the real corpora: Brown-like sentences of 3-60 words
(median 18), CMUdict-like words of 3-15 letters with their phoneme strings, and the short
question/answer records of data/sft-tasks.

Words and punctuation are written separated by single spaces and made of ASCII letters only,
so splitting on whitespace gives exactly the words torchzoo's word tokenizer finds.
"""
import json
import os
import random
import sys

LETTERS = "etaoinshrdlcumwfgypbvkjxqz"
ALPHABET = "abcdefghijklmnopqrstuvwxyz"
# English letter frequencies (per mille), in the order of LETTERS.
LETTER_WEIGHTS = [127, 91, 82, 75, 70, 67, 63, 61, 60, 43, 40, 28, 28, 24, 24, 22, 20, 20, 19, 15, 10, 8, 2, 2, 1, 1]
ONSETS = ["", "b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "st", "tr", "ch", "sh",
          "th", "pl", "gr", "br"]
VOWELS = ["a", "e", "i", "o", "u", "ea", "ou", "ai", "ee", "oo"]
CODAS = ["", "", "n", "r", "s", "t", "l", "d", "ng", "st", "nd", "ck", "m"]


def lexicon(rng, size):
    """`size` distinct pronounceable lowercase words, most frequent first (short words lead, as in
    English: 'the', 'of', 'and' are short)."""
    words, seen = [], set()
    while len(words) < size:
        syllables = min(1 + int(rng.expovariate(1.5) * (1 + len(words) / 4000)), 4)
        word = "".join(rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(CODAS) for _ in range(syllables))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


class Zipf:
    """Draws items with probability ~ 1 / (rank + 2.7) (Mandelbrot's fit of word frequencies)."""

    def __init__(self, rng, items):
        self.rng, self.items = rng, items
        total, self.cumulative = 0.0, []
        for rank in range(len(items)):
            total += 1.0 / (rank + 2.7)
            self.cumulative.append(total)

    def draw(self, k=1):
        return self.rng.choices(self.items, cum_weights=self.cumulative, k=k)


def sentence_length(rng):
    """Brown's sentences: median about 18 words, a long right tail, here cut to 3..60."""
    return max(3, min(60, int(rng.lognormvariate(2.9, 0.5))))


def sentence(rng, words):
    """A list of tokens: capitalised first word, a comma now and then, a full stop."""
    tokens = words.draw(sentence_length(rng) - 1)
    tokens[0] = tokens[0].capitalize()
    for i in range(3, len(tokens), 8):
        if rng.random() < 0.5:
            tokens[i] += " ,"
    return tokens + ["."]


def documents(rng, words, lines):
    """`lines` sentences, one a line, in documents of 10-60 lines with a blank line between them."""
    out = []
    while len(out) < lines:
        for _ in range(min(rng.randint(10, 60), lines - len(out))):
            out.append(" ".join(sentence(rng, words)))
        out.append("")
    return "\n".join(out) + "\n"


def write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def sentences_case(out, rng):
    # data type sentences (BERT pretraining): one sentence a line, a blank line between documents.
    words = Zipf(rng, lexicon(rng, 8000))
    write(os.path.join(out, "train.txt"), documents(rng, words, 4000))
    write(os.path.join(out, "valid.txt"), documents(rng, words, 200))
    return {"data.train": "train.txt", "data.valid": "valid.txt"}


def text_case(out, rng):
    # data type text (character-level LM): plain prose.
    words = Zipf(rng, lexicon(rng, 8000))
    write(os.path.join(out, "train.txt"), documents(rng, words, 3000))
    write(os.path.join(out, "valid.txt"), documents(rng, words, 200))
    return {"data.train": "train.txt", "data.valid": "valid.txt"}


def tagging_case(out, rng):
    # data type tagging (CoNLL): word<TAB>tag, a blank line after each sentence. Each word has a
    # usual tag, drawn from a Zipf over Brown's 472 tags, and another one time in ten.
    vocabulary = lexicon(rng, 8000)
    words = Zipf(rng, vocabulary)
    tags = Zipf(rng, [f"t{i}" for i in range(472)])
    usual = {word: tags.draw()[0] for word in vocabulary}

    def conll(count):
        lines = []
        for _ in range(count):
            for token in " ".join(sentence(rng, words)).split():
                tag = token if token in ".," else usual[token.lower()] if rng.random() < 0.9 else tags.draw()[0]
                lines.append(f"{token}\t{tag}")
            lines.append("")
        return "\n".join(lines) + "\n"

    write(os.path.join(out, "train.conll"), conll(4000))
    write(os.path.join(out, "valid.conll"), conll(200))
    return {"data.train": "train.conll", "data.valid": "valid.conll"}


# A rough English letter-to-sound rule: digraphs first, vowels with a stress digit.
DIGRAPHS = {"th": "TH", "sh": "SH", "ch": "CH", "ng": "NG", "ph": "F", "ck": "K", "ee": "IY", "oo": "UW",
            "ea": "IY", "ou": "AW", "ai": "EY"}
SOUNDS = {"a": "AE", "b": "B", "c": "K", "d": "D", "e": "EH", "f": "F", "g": "G", "h": "HH", "i": "IH", "j": "JH",
          "k": "K", "l": "L", "m": "M", "n": "N", "o": "AA", "p": "P", "q": "K", "r": "R", "s": "S", "t": "T",
          "u": "AH", "v": "V", "w": "W", "x": "K S", "y": "Y", "z": "Z"}
VOWEL_SOUNDS = {"AE", "EH", "IH", "AA", "AH", "IY", "UW", "AW", "EY"}


def phonemes(word):
    out, i, stressed = [], 0, False
    while i < len(word):
        pair = word[i:i + 2]
        sound = DIGRAPHS.get(pair) if len(pair) == 2 else None
        i += 2 if sound else 1
        sound = sound or SOUNDS[word[i - 1]]
        if sound in VOWEL_SOUNDS:
            sound += "0" if stressed else "1"
            stressed = True
        if not out or out[-1] != sound:  # doubled letters sound once
            out.append(sound)
    return " ".join(out)


def pairs_case(out, rng):
    # data type pairs (seq2seq g2p): word<TAB>phonemes. CMUdict's words: 3-15 letters, mean 7.5.
    seen = set()

    def word():
        while True:
            length = max(3, min(15, round(rng.gauss(7.5, 2.5))))
            w = "".join(rng.choices(LETTERS, weights=LETTER_WEIGHTS, k=length))
            if w not in seen:
                seen.add(w)
                return w

    for name, count in (("train.tsv", 5000), ("valid.tsv", 300)):
        write(os.path.join(out, name), "".join(f"{w}\t{phonemes(w)}\n" for w in (word() for _ in range(count))))
    return {"data.train": "train.tsv", "data.valid": "valid.tsv"}


def instructions_case(out, rng):
    # data type instructions (SFT): data/sft-tasks' eight kinds of short task, one JSON object a line.
    vocabulary = lexicon(rng, 400)
    common = [w for w in vocabulary if 3 <= len(w) <= 9]

    def a_word():
        if rng.random() < 0.5:
            return rng.choice(common)
        return "".join(rng.choices(LETTERS, k=rng.randint(3, 9)))

    def a_sentence():
        return [rng.choice(common) for _ in range(rng.randint(3, 7))]

    def task():
        kind = rng.randrange(8)
        if kind == 0:
            w = a_word()
            return "Reverse the word.", w, w[::-1]
        if kind == 1:
            w = a_word()
            return "How many letters are in the word?", w, str(len(w))
        if kind == 2:
            w = a_word()
            letter = rng.choice(w) if rng.random() < 0.7 else rng.choice(LETTERS)
            return "How many times does the letter appear in the word?", f"{letter} in {w}", str(w.count(letter))
        if kind == 3:
            start, step, shown = rng.randint(1, 99), rng.randint(1, 12), rng.randint(3, 4)
            seq = [start + step * i for i in range(shown + 2)]
            return "Continue the sequence.", ", ".join(map(str, seq[:shown])), ", ".join(map(str, seq[shown:]))
        if kind == 4:
            step, shown = rng.randint(1, 2), rng.randint(3, 5)
            start = rng.randint(0, len(ALPHABET) - 1 - step * (shown + 2))
            seq = [ALPHABET[start + step * i] for i in range(shown + 3)]
            return "Continue the alphabet.", " ".join(seq[:shown]), " ".join(seq[shown:])
        if kind == 5:
            a, b = rng.sample(range(100, 1000), 2)
            return "Which number is larger?", f"{a}, {b}", str(max(a, b))
        if kind == 6:
            s = a_sentence()
            which = rng.choice(["first", "last"])
            return f"What is the {which} word of the sentence?", " ".join(s), s[0] if which == "first" else s[-1]
        s = a_sentence()
        return "How many words are in the sentence?", " ".join(s), str(len(s))

    def records(count):
        lines = []
        for _ in range(count):
            instruction, given, answer = task()
            record = {"input": given, "instruction": instruction, "output": answer}
            lines.append(json.dumps(record, separators=(",", ":")))
        return "\n".join(lines) + "\n"

    write(os.path.join(out, "train.jsonl"), records(4000))
    write(os.path.join(out, "valid.jsonl"), records(200))
    return {"data.train": "train.jsonl", "data.valid": "valid.jsonl"}


CASES = {
    "bert_mlm": sentences_case,
    "bilstm_tagger": tagging_case,
    "seq2seq_attention": pairs_case,
    "gpt_quickstart": text_case,
    "gpt_shakespeare_char": text_case,
    "moe_gpt": text_case,
    "lora_sft": instructions_case,
}


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in CASES:
        raise SystemExit(f"usage: make_data.py CASE OUTDIR (cases: {', '.join(CASES)})")
    case, out = sys.argv[1], os.path.abspath(sys.argv[2])
    os.makedirs(out, exist_ok=True)
    # One seed per case, so a case's files do not change when another case's generator does.
    rng = random.Random(f"torchzoo-bench-{case}")
    files = CASES[case](out, rng)
    print(" ".join(f"{key}={os.path.join(out, name)}" for key, name in files.items()))


if __name__ == "__main__":
    main()
