"""Independent PyTorch seq2seq that checks the C++ encoder-decoder's teacher-forced outputs.

It runs every sequence alone, unpadded (so nothing about masking is shared with the C++ code),
with torch.nn's own bidirectional multi-layer LSTM/GRU for the encoder (its h_n gives the
final states) and LSTMCell/GRUCell stacks stepped one token at a time for the decoder.

Usage: seq2seq_reference.py DIR. DIR holds config.json (the C++ Seq2SeqOptions plus
vocab_size) and tensors.pt (a dict: "model.<name>" weights; "source", "source_mask" (B, S);
"target_input" (B, T); "target_lengths" (B); the C++ outputs "logits" (B, T, V) and
"attention" (B, T, S)). Writes the max abs difference over real positions to DIR/diff.txt
and prints the logits' and the attention's.
"""
import json
import os
import sys

import torch
import torch.nn as nn


class Reference(nn.Module):
    def __init__(self, cfg, weights):
        super().__init__()
        self.cfg = cfg
        self.w = weights
        H, E = cfg["hidden_size"], cfg["embedding_dim"]
        rnn = nn.LSTM if cfg["cell"] == "lstm" else nn.GRU
        cell = nn.LSTMCell if cfg["cell"] == "lstm" else nn.GRUCell
        bi = cfg["bidirectional"]
        self.encoder = rnn(E, H // 2 if bi else H, num_layers=cfg["encoder_layers"], bidirectional=bi,
                           batch_first=True)
        for k in range(cfg["encoder_layers"]):
            for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(self.encoder, f"{kind}_l{k}").data.copy_(weights[f"encoder.{k}.fwd.{kind}_l0"])
                if bi:
                    getattr(self.encoder, f"{kind}_l{k}_reverse").data.copy_(weights[f"encoder.{k}.bwd.{kind}_l0"])
        in_size = E + (H if cfg["attention"] == "bahdanau" else 0) + (H if cfg["input_feeding"] else 0)
        self.cells = nn.ModuleList()
        for k in range(cfg["decoder_layers"]):
            c = cell(in_size if k == 0 else H, H)
            for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(c, kind).data.copy_(weights[f"decoder_rnn.{kind}_l{k}"])
            self.cells.append(c)

    def linear(self, name, x):
        bias = self.w.get(name + ".bias")
        return nn.functional.linear(x, self.w[name + ".weight"], bias)

    def run(self, source, target_input):
        """One unpadded sequence: source (S,), target_input (T,) -> logits (T, V), attention (T, S)."""
        cfg, w = self.cfg, self.w
        H, L = cfg["hidden_size"], cfg["decoder_layers"]
        lstm = cfg["cell"] == "lstm"
        x = w["source_embedding.weight"][source].unsqueeze(0)  # (1, S, E)
        memory, state = self.encoder(x)
        h_n = state[0] if lstm else state
        memory = memory[0]  # (S, H)
        final = torch.cat([h_n[-2], h_n[-1]], -1)[0] if cfg["bidirectional"] else h_n[-1][0]  # (H,)
        h = list(torch.tanh(self.linear("bridge_h", final)).view(L, H))
        c = list(torch.tanh(self.linear("bridge_c", final)).view(L, H)) if lstm else None
        feed = torch.zeros(H)
        kind = cfg["attention"]
        logits, attention = [], []
        for token in target_input:
            e = w["target_embedding.weight"][token]
            inputs = [e]
            weights = None
            if kind == "bahdanau":
                scores = self.linear("attention.v", torch.tanh(
                    self.linear("attention.query", h[-1]) + self.linear("attention.key", memory))).squeeze(-1)
                weights = scores.softmax(-1)
                context = weights @ memory
                inputs.append(context)
            if cfg["input_feeding"]:
                inputs.append(feed)
            inp = torch.cat(inputs)
            for k, layer in enumerate(self.cells):
                if lstm:
                    h[k], c[k] = layer(inp.unsqueeze(0), (h[k].unsqueeze(0), c[k].unsqueeze(0)))
                    h[k], c[k] = h[k][0], c[k][0]
                else:
                    h[k] = layer(inp.unsqueeze(0), h[k].unsqueeze(0))[0]
                inp = h[k]
            top = h[-1]
            if kind in ("luong_dot", "luong_general"):
                query = top if kind == "luong_dot" else self.linear("attention.query", top)
                weights = (memory @ query).softmax(-1)
                context = weights @ memory
            out = top if kind == "none" else torch.tanh(self.linear("combine", torch.cat([context, top])))
            feed = out
            if "output.weight" in w:
                logits.append(self.linear("output", out))
            else:
                logits.append(out @ w["target_embedding.weight"].T)
            attention.append(weights if weights is not None else torch.zeros(len(source)))
        return torch.stack(logits), torch.stack(attention)


def main():
    directory = sys.argv[1]
    with open(os.path.join(directory, "config.json")) as f:
        cfg = json.load(f)
    tensors = torch.load(os.path.join(directory, "tensors.pt"))
    weights = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    model = Reference(cfg, weights).eval()
    logits_diff = attention_diff = 0.0
    padding_weight = 0.0
    with torch.no_grad():
        for b in range(tensors["source"].shape[0]):
            S = int(tensors["source_mask"][b].sum())
            T = int(tensors["target_lengths"][b])
            logits, attention = model.run(tensors["source"][b, :S], tensors["target_input"][b, :T])
            logits_diff = max(logits_diff, (logits - tensors["logits"][b, :T]).abs().max().item())
            attention_diff = max(attention_diff, (attention - tensors["attention"][b, :T, :S]).abs().max().item())
            padding_weight = max(padding_weight, tensors["attention"][b, :T, S:].abs().max().item()
                                 if S < tensors["attention"].shape[2] else 0.0)
    print(f"logits max abs diff {logits_diff:.3g}, attention {attention_diff:.3g}, "
          f"weight on padding {padding_weight:.3g}")
    with open(os.path.join(directory, "diff.txt"), "w") as f:
        f.write(repr(max(logits_diff, attention_diff, padding_weight)))


if __name__ == "__main__":
    main()
