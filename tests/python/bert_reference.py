"""Independent PyTorch BERT that checks the C++ BERT's outputs, built on torch.nn's own
TransformerEncoderLayer (GELU, batch_first, norm_first for pre-norm) rather than on a copy of
the C++ code.

Usage: bert_reference.py DIR. DIR holds config.json (the C++ BertOptions plus vocab_size and
the heads) and tensors.pt (a dict: "model.<name>" weights, "ids", "mask", "segments" (B, T),
and the C++ outputs "hidden", "mlm", "nsp", "sequence", "tokens"). Writes the max abs
difference over real (unmasked) positions of every output to DIR/diff.txt.
"""
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F


class Bert(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, eps = cfg["d_model"], cfg["layer_norm_eps"]
        self.cfg = cfg
        self.word = nn.Embedding(cfg["vocab_size"], d)
        self.position = nn.Embedding(cfg["max_positions"], d)
        self.segment = nn.Embedding(cfg["type_vocab_size"], d)
        self.embedding_norm = nn.LayerNorm(d, eps=eps)
        d_ff = cfg["d_ff"] or 4 * d
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(d, cfg["n_head"], d_ff, dropout=0.0, activation="gelu", layer_norm_eps=eps,
                                       batch_first=True, norm_first=cfg["norm_position"] == "pre")
            for _ in range(cfg["n_layer"]))
        self.final_norm = nn.LayerNorm(d, eps=eps) if cfg["norm_position"] == "pre" else None
        self.mlm_dense = nn.Linear(d, d)
        self.mlm_norm = nn.LayerNorm(d, eps=eps)
        self.mlm_bias = nn.Parameter(torch.zeros(cfg["vocab_size"]))
        self.pooler = nn.Linear(d, d)
        self.nsp = nn.Linear(d, 2)
        self.classifier = nn.Linear(d, cfg["sequence_labels"])
        self.tagger = nn.Linear(d, cfg["token_labels"])

    def load(self, weights):
        """Maps the C++ names onto torch.nn's (fused q/k/v in_proj has the same [q; k; v] rows)."""
        own = {
            "word.weight": "embeddings.word.weight",
            "position.weight": "embeddings.position.weight",
            "segment.weight": "embeddings.segment.weight",
            "embedding_norm.weight": "embeddings.norm.weight",
            "embedding_norm.bias": "embeddings.norm.bias",
            "mlm_dense.weight": "mlm.dense.weight",
            "mlm_dense.bias": "mlm.dense.bias",
            "mlm_norm.weight": "mlm.norm.weight",
            "mlm_norm.bias": "mlm.norm.bias",
            "mlm_bias": "mlm.bias",
        }
        for head in ("pooler", "nsp", "classifier", "tagger"):
            for kind in ("weight", "bias"):
                own[f"{head}.{kind}"] = f"{head}.{kind}"
        if self.final_norm is not None:
            own["final_norm.weight"] = "final_norm.weight"
            own["final_norm.bias"] = "final_norm.bias"
        for i in range(self.cfg["n_layer"]):
            for theirs, ours in (("self_attn.in_proj_weight", "attn.c_attn.weight"),
                                 ("self_attn.in_proj_bias", "attn.c_attn.bias"),
                                 ("self_attn.out_proj.weight", "attn.c_proj.weight"),
                                 ("self_attn.out_proj.bias", "attn.c_proj.bias"),
                                 ("linear1.weight", "mlp.c_fc.weight"), ("linear1.bias", "mlp.c_fc.bias"),
                                 ("linear2.weight", "mlp.c_proj.weight"), ("linear2.bias", "mlp.c_proj.bias"),
                                 ("norm1.weight", "ln_1.weight"), ("norm1.bias", "ln_1.bias"),
                                 ("norm2.weight", "ln_2.weight"), ("norm2.bias", "ln_2.bias")):
                own[f"layers.{i}.{theirs}"] = f"layers.{i}.{ours}"
        state = {k: weights[v] for k, v in own.items()}
        unused = set(weights) - set(own.values())
        assert not unused, f"C++ parameters the reference does not use: {sorted(unused)}"
        self.load_state_dict(state, strict=True)

    def forward(self, ids, mask, segments):
        B, T = ids.shape
        pos = torch.arange(T).unsqueeze(0).expand(B, T)
        x = self.embedding_norm(self.word(ids) + self.position(pos) + self.segment(segments))
        for layer in self.layers:
            x = layer(x, src_key_padding_mask=~mask.bool())
        if self.final_norm is not None:
            x = self.final_norm(x)
        hidden = x
        mlm = F.linear(self.mlm_norm(F.gelu(self.mlm_dense(hidden))), self.word.weight, self.mlm_bias)
        cls = torch.tanh(self.pooler(hidden[:, 0]))
        nsp = self.nsp(cls)
        if self.cfg["pooling"] == "cls":
            pooled = cls
        else:
            m = mask.to(hidden.dtype).unsqueeze(-1)
            pooled = (hidden * m).sum(1) / m.sum(1)
        return {"hidden": hidden, "mlm": mlm, "nsp": nsp, "sequence": self.classifier(pooled),
                "tokens": self.tagger(hidden)}


def main():
    directory = sys.argv[1]
    with open(os.path.join(directory, "config.json")) as f:
        cfg = json.load(f)
    tensors = torch.load(os.path.join(directory, "tensors.pt"))
    model = Bert(cfg)
    model.load({k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")})
    model.eval()
    mask = tensors["mask"].bool()
    with torch.no_grad():
        ours = model(tensors["ids"], mask, tensors["segments"])
    lines = []
    worst = 0.0
    for name, value in ours.items():
        diff = (value - tensors[name]).abs()
        if value.dim() == 3:
            diff = diff[mask]  # padded positions carry no meaning
        d = diff.max().item()
        worst = max(worst, d)
        lines.append(f"{name} {d:.3e}")
    print(" | ".join(lines))
    with open(os.path.join(directory, "diff.txt"), "w") as f:
        f.write(f"{worst:.9e}\n")


if __name__ == "__main__":
    main()
