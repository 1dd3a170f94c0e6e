"""Independent PyTorch GPT (nanoGPT style) that checks the C++ GPT's logits.

Usage: gpt_reference.py DIR. DIR holds config.json (the C++ GPTOptions plus vocab_size) and
tensors.pt (a dict: "model.<name>" weights, "ids" (B, T), optional "mask" (B, T), and the C++
"logits"). Writes the max abs difference over real (unmasked) positions to DIR/diff.txt.
"""
import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F


class LayerNorm(nn.Module):
    """LayerNorm with an optional bias (torch 1.13's nn.LayerNorm cannot drop only the bias)."""

    def __init__(self, dim, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim)) if bias else None

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


class RMSNorm(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * self.weight


def make_norm(cfg):
    return RMSNorm(cfg["d_model"]) if cfg["norm"] == "rmsnorm" else LayerNorm(cfg["d_model"], cfg["bias"])


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2 :]
    return torch.cat((-x2, x1), dim=-1)


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d = cfg["d_model"]
        self.n_head = cfg["n_head"]
        self.n_kv_head = cfg["n_kv_head"] or cfg["n_head"]
        self.head_size = d // self.n_head
        self.c_attn = nn.Linear(d, (self.n_head + 2 * self.n_kv_head) * self.head_size, bias=cfg["bias"])
        self.c_proj = nn.Linear(d, d, bias=cfg["bias"])
        n = cfg["block_size"]
        self.register_buffer("tril", torch.tril(torch.ones(n, n, dtype=torch.bool)), persistent=False)

    def forward(self, x, rope, pad):
        B, T, C = x.size()
        hs = self.head_size
        q, k, v = self.c_attn(x).split([self.n_head * hs, self.n_kv_head * hs, self.n_kv_head * hs], dim=2)
        q = q.view(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, self.n_kv_head, hs).transpose(1, 2)  # (B, nkv, T, hs)
        v = v.view(B, T, self.n_kv_head, hs).transpose(1, 2)
        if rope is not None:
            cos, sin = rope
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
        rep = self.n_head // self.n_kv_head
        k = k.repeat_interleave(rep, dim=1)  # (B, nh, T, hs)
        v = v.repeat_interleave(rep, dim=1)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))  # (B, nh, T, T)
        allowed = self.tril[:T, :T].view(1, 1, T, T)
        if pad is not None:
            allowed = allowed & pad.view(B, 1, 1, T)
        att = att.masked_fill(~allowed, float("-inf"))
        att = torch.nan_to_num(F.softmax(att, dim=-1))  # rows of padding queries are all -inf
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)


class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d = cfg["d_model"]
        self.swiglu = cfg["mlp"] == "swiglu"
        hidden = 64 * math.ceil(8 * d / 3 / 64) if self.swiglu else 4 * d
        self.c_fc = nn.Linear(d, hidden, bias=cfg["bias"])
        if self.swiglu:
            self.c_gate = nn.Linear(d, hidden, bias=cfg["bias"])
        self.c_proj = nn.Linear(hidden, d, bias=cfg["bias"])

    def forward(self, x):
        h = F.silu(self.c_gate(x)) * self.c_fc(x) if self.swiglu else F.gelu(self.c_fc(x))
        return self.c_proj(h)


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.ln_1 = make_norm(cfg)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = make_norm(cfg)
        self.mlp = MLP(cfg)

    def forward(self, x, rope, pad):
        x = x + self.attn(self.ln_1(x), rope, pad)
        return x + self.mlp(self.ln_2(x))


def sinusoid_table(n, d):
    pe = torch.zeros(n, d)
    position = torch.arange(0, n, dtype=torch.float).unsqueeze(1)
    div_term = torch.exp(torch.arange(0, d, 2).float() * (-math.log(10000.0) / d))
    pe[:, 0::2] = torch.sin(position * div_term)
    pe[:, 1::2] = torch.cos(position * div_term)
    return pe


class GPT(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        d, n = cfg["d_model"], cfg["block_size"]
        self.wte = nn.Embedding(cfg["vocab_size"], d)
        if cfg["pos"] == "learned":
            self.wpe = nn.Embedding(n, d)
        self.h = nn.ModuleList([Block(cfg) for _ in range(cfg["n_layer"])])
        self.ln_f = make_norm(cfg)
        if not cfg["tie_weights"]:
            self.lm_head = nn.Linear(d, cfg["vocab_size"], bias=False)
        self.register_buffer("sinusoid", sinusoid_table(n, d), persistent=False)
        hs = d // cfg["n_head"]
        inv_freq = 1.0 / (10000 ** (torch.arange(0, hs, 2).float() / hs))
        freqs = torch.einsum("i,j->ij", torch.arange(n).float(), inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        self.register_buffer("rope_cos", emb.cos(), persistent=False)
        self.register_buffer("rope_sin", emb.sin(), persistent=False)

    def forward(self, idx, mask=None):
        B, T = idx.size()
        if mask is None:
            pos = torch.arange(0, T, dtype=torch.long).unsqueeze(0).expand(B, T)
        else:
            pos = (mask.long().cumsum(1) - 1).clamp(min=0)  # count real tokens only
        x = self.wte(idx)
        if self.cfg["pos"] == "learned":
            x = x + self.wpe(pos)
        elif self.cfg["pos"] == "sinusoidal":
            x = x + self.sinusoid[pos]
        rope = None
        if self.cfg["pos"] == "rotary":
            rope = (self.rope_cos[pos].unsqueeze(1), self.rope_sin[pos].unsqueeze(1))  # (B, 1, T, hs)
        pad = None if mask is None else mask.bool()
        for block in self.h:
            x = block(x, rope, pad)
        x = self.ln_f(x)
        return F.linear(x, self.wte.weight) if self.cfg["tie_weights"] else self.lm_head(x)


def main():
    directory = sys.argv[1]
    with open(os.path.join(directory, "config.json")) as f:
        cfg = json.load(f)
    tensors = torch.load(os.path.join(directory, "tensors.pt"))
    model = GPT(cfg)
    weights = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    model.load_state_dict(weights, strict=True)  # every name and shape must match
    model.eval()
    mask = tensors.get("mask")
    with torch.no_grad():
        logits = model(tensors["ids"], mask)
    diff = (logits - tensors["logits"]).abs()
    if mask is not None:
        diff = diff[mask.bool()]
    result = diff.max().item()
    print(f"max_abs_diff {result:.3e}")
    with open(os.path.join(directory, "diff.txt"), "w") as f:
        f.write(f"{result:.9e}\n")


if __name__ == "__main__":
    main()
