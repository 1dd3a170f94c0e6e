"""The BiLSTM tagger of recipes/bilstm_pos_brown.yaml trained in Python PyTorch, for
bench/bilstm_vs_python.sh: the same data, sizes, optimizer and batch size as the C++ trainer,
written the way a PyTorch user would (nn.LSTM on packed sequences, a Python collate).

Usage: bilstm_tagger.py TRAIN.conll STEPS [--threads N] [--skip K]
Prints one JSON line: steps/s and tokens/s over the steps after the first K (warm-up).
"""
import argparse
import collections
import json
import math
import random
import time

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


def read_conll(path):
    sentences, words, tags = [], [], []
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if not line:
            if words:
                sentences.append((words, tags))
            words, tags = [], []
            continue
        word, tag = line.split("\t")
        words.append(word)
        tags.append(tag)
    if words:
        sentences.append((words, tags))
    return sentences


class Tagger(nn.Module):
    def __init__(self, vocab, tags, embedding_dim=128, hidden_size=256, num_layers=2, dropout=0.3):
        super().__init__()
        self.embedding = nn.Embedding(vocab, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_size, num_layers=num_layers, bidirectional=True,
                            batch_first=True, dropout=dropout)
        self.dropout = nn.Dropout(dropout)
        self.tagger = nn.Linear(2 * hidden_size, tags)

    def forward(self, ids, lengths):
        x = self.dropout(self.embedding(ids))
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        states, _ = pad_packed_sequence(out, batch_first=True, total_length=ids.size(1))
        return self.tagger(self.dropout(states))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("train")
    parser.add_argument("steps", type=int)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip", type=int, default=20)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    random.seed(0)

    sentences = read_conll(args.train)
    counts = collections.Counter(w for words, _ in sentences for w in words)
    vocab = {"<pad>": 0, "<unk>": 1}
    for word, count in counts.most_common():
        if count >= 2:
            vocab[word] = len(vocab)
    tag_ids = {t: i for i, t in enumerate(sorted({t for _, tags in sentences for t in tags}))}
    data = [([vocab.get(w, 1) for w in words][:args.max_length], [tag_ids[t] for t in tags][:args.max_length])
            for words, tags in sentences]

    model = Tagger(len(vocab), len(tag_ids))
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "embedding" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "embedding" not in n)]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                                  lr=2e-3)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / 100) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * s / args.steps))))

    order = list(range(len(data)))
    random.shuffle(order)
    position = 0
    tokens = 0
    start = None
    for step in range(args.steps):
        if step == args.skip:
            start, tokens = time.perf_counter(), 0
        if position + args.batch > len(order):
            random.shuffle(order)
            position = 0
        batch = [data[i] for i in order[position:position + args.batch]]
        position += args.batch
        lengths = torch.tensor([len(ids) for ids, _ in batch])
        T = int(lengths.max())
        ids = torch.zeros(len(batch), T, dtype=torch.long)
        labels = torch.full((len(batch), T), -100, dtype=torch.long)
        for b, (words, tags) in enumerate(batch):
            ids[b, :len(words)] = torch.tensor(words)
            labels[b, :len(tags)] = torch.tensor(tags)
        logits = model(ids, lengths)
        loss = nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), labels.reshape(-1), ignore_index=-100)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        tokens += ids.numel()
        if step % 50 == 0:
            loss.item()
    elapsed = time.perf_counter() - start
    timed = args.steps - args.skip
    print(json.dumps({"steps_per_s": timed / elapsed, "tokens_per_s": tokens / elapsed, "loss": loss.item(),
                      "steps": timed, "seconds": elapsed}))


if __name__ == "__main__":
    main()
