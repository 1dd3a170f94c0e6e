"""What the Python cases read and how they batch it, as torchzoo does: the files bench/make_data.py
writes, tokenized with torchzoo's word and char vocabularies (the same ids), and the training
order of datasets/examples.cpp (shuffled epochs, optionally bucketed by length)."""
import collections
import os
import random

import torch

IGNORE_INDEX = -100  # datasets::kIgnoreIndex


def data_file(args, name):
    """`name` in the --data directory (bench/make_data.py's output)."""
    if not args.data:
        raise SystemExit(f"reference: case {args.case} reads its data from --data DIR "
                         f"(bench/make_data.py {args.case} DIR)")
    return os.path.join(args.data, name)


def word_vocabulary(texts, specials=()):
    """tokenizers/word.cpp: <unk> 0, the special tokens in order, then every word of the training
    texts by falling count, ties in byte order. bench/make_data.py separates words and punctuation
    by spaces, so str.split() finds the words the C++ word splitter finds."""
    counts = collections.Counter(word for text in texts for word in text.split())
    words = sorted(counts, key=lambda w: (-counts[w], w.encode()))
    return {word: i for i, word in enumerate(["<unk>", *specials, *words])}


def char_vocabulary(texts, specials=()):
    """tokenizers/char.cpp: <unk> 0, the special tokens, then the sorted characters of the training
    text. A data type other than text learns from its texts written one a line, so '\\n' is one."""
    chars = sorted(set("".join(texts)) | {"\n"})
    return {char: i for i, char in enumerate(["<unk>", *specials, *chars])}


def check_vocab_size(args, vocab):
    """The model's vocabulary is the one these files give; --vocab-size (zoo's, from its metrics)
    must agree, or the two sides would not be reading the same tokens."""
    if args.vocab_size and args.vocab_size != len(vocab):
        raise SystemExit(f"reference: {args.case}: the data gives a vocabulary of {len(vocab)}, --vocab-size says "
                         f"{args.vocab_size}; is --data the directory zoo trained on?")
    return len(vocab)


def pad(rows, value):
    """datasets::pad: (B, T) int64, each row right-padded with `value` to the longest."""
    out = torch.full((len(rows), max(len(r) for r in rows)), value, dtype=torch.long)
    for b, row in enumerate(rows):
        out[b, :len(row)] = torch.tensor(row, dtype=torch.long)
    return out


def attention_mask(rows):
    """datasets::attention_mask: (B, T) bool, true on the real tokens of pad(rows, .)."""
    lengths = torch.tensor([len(r) for r in rows])
    return torch.arange(int(lengths.max())).unsqueeze(0) < lengths.unsqueeze(1)


class EpochOrder:
    """datasets::EpochOrder: the train examples in a fresh random order every epoch, a batch taken
    across the end of an epoch into the next. With `bucket_batches` (data.bucket_batches), each
    window of that many batches of the shuffled order is sorted by length and cut into batches,
    and the window's batches are shuffled. The draws are Python's, not the C++ mt19937_64's: the
    same distribution of batches, not the same batches."""

    def __init__(self, lengths, seed, batch_size=0, bucket_batches=0):
        self.lengths, self.batch_size, self.window = lengths, batch_size, batch_size * bucket_batches
        self.rng = random.Random(seed)
        self.order, self.position = self.epoch_order(), 0

    def epoch_order(self):
        order = list(range(len(self.lengths)))
        self.rng.shuffle(order)
        if self.window <= 0:
            return order
        out = []
        for start in range(0, len(order), self.window):
            window = sorted(order[start:start + self.window], key=lambda i: self.lengths[i])  # stable, as C++
            batches = [window[i:i + self.batch_size] for i in range(0, len(window), self.batch_size)]
            self.rng.shuffle(batches)
            out.extend(i for batch in batches for i in batch)
        return out

    def next(self, count):
        picked = []
        while len(picked) < count:
            if self.position == len(self.order):
                self.order, self.position = self.epoch_order(), 0
            picked.append(self.order[self.position])
            self.position += 1
        return picked
