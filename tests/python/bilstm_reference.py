"""Independent PyTorch BiLSTM that checks the C++ BiLSTM's outputs: one torch.nn.LSTM with
num_layers and bidirectional set, run on packed sequences (pack_padded_sequence), rather than on
a copy of the C++ code's per-direction layers and in-length reversal.

Usage: bilstm_reference.py DIR. DIR holds config.json (the C++ BiLSTMOptions plus vocab_size
and the label counts) and tensors.pt (a dict: "model.<name>" weights, "ids", "mask" (B, T), and
the C++ outputs "states", "tokens", "sequence"). Writes the largest max abs difference over real
(unmasked) positions to DIR/diff.txt and prints each.
"""
import json
import os
import sys

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class BiLSTM(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        E, H, L = cfg["embedding_dim"], cfg["hidden_size"], cfg["num_layers"]
        directions = 2 if cfg["bidirectional"] else 1
        self.embedding = nn.Embedding(cfg["vocab_size"], E)
        self.lstm = nn.LSTM(E, H, num_layers=L, bidirectional=cfg["bidirectional"], batch_first=True)
        self.classifier = nn.Linear(H * directions, cfg["sequence_labels"])
        self.tagger = nn.Linear(H * directions, cfg["token_labels"])

    def load(self, weights):
        """Maps the C++ per-direction layers onto torch.nn.LSTM's l{i} and l{i}_reverse names."""
        own = {"embedding.weight": "embedding.weight"}
        for head in ("classifier", "tagger"):
            for kind in ("weight", "bias"):
                own[f"{head}.{kind}"] = f"{head}.{kind}"
        for i in range(self.cfg["num_layers"]):
            for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                own[f"lstm.{kind}_l{i}"] = f"layers.{i}.forward_lstm.{kind}_l0"
                if self.cfg["bidirectional"]:
                    own[f"lstm.{kind}_l{i}_reverse"] = f"layers.{i}.backward_lstm.{kind}_l0"
        state = {k: weights[v] for k, v in own.items()}
        unused = set(weights) - set(own.values())
        assert not unused, f"C++ parameters the reference does not use: {sorted(unused)}"
        self.load_state_dict(state, strict=True)

    def forward(self, ids, mask):
        B, T = ids.shape
        lengths = mask.sum(1)
        packed = pack_padded_sequence(self.embedding(ids), lengths, batch_first=True, enforce_sorted=False)
        out, (h, _) = self.lstm(packed)
        states, _ = pad_packed_sequence(out, batch_first=True, total_length=T)  # (B, T, D)
        real = mask.bool().unsqueeze(-1)
        pooling = self.cfg["pooling"]
        if pooling == "last":
            # The final states of the top layer: forward after the last real token, backward
            # after reading back to the first.
            pooled = torch.cat([h[-2], h[-1]], -1) if self.cfg["bidirectional"] else h[-1]
        elif pooling == "max":
            pooled = states.masked_fill(~real, float("-inf")).amax(1)
        else:
            pooled = (states * real).sum(1) / real.sum(1)
        return states, self.tagger(states), self.classifier(pooled)


def main():
    out_dir = sys.argv[1]
    cfg = json.load(open(os.path.join(out_dir, "config.json")))
    tensors = torch.load(os.path.join(out_dir, "tensors.pt"))
    weights = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    model = BiLSTM(cfg)
    model.load(weights)
    model.eval()
    ids, mask = tensors["ids"], tensors["mask"]
    with torch.no_grad():
        states, tokens, sequence = model(ids, mask)
    real = mask.bool()
    diffs = {
        "states": (states - tensors["states"])[real].abs().max().item(),
        "tokens": (tokens - tensors["tokens"])[real].abs().max().item(),
        "sequence": (sequence - tensors["sequence"]).abs().max().item(),
    }
    print(" ".join(f"{k} {v:.2e}" for k, v in diffs.items()))
    with open(os.path.join(out_dir, "diff.txt"), "w") as f:
        f.write(repr(max(diffs.values())))


if __name__ == "__main__":
    main()
