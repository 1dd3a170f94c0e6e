"""Self-attention under a mask, as models/nn/attention.cpp computes it for the cases whose
attention is not plain causal (BERT's padding mask, packed SFT rows): q scaled before the
product, the scores of forbidden (query, key) pairs set to the lowest finite float rather than
-inf (a row with every key forbidden then softmaxes to uniform weights instead of NaN), dropout
on the probabilities and on the output projection."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def masked_attention(attn, x, allowed):
    """attn: a module with c_attn, c_proj, n_head and dropout (SelfAttention below, or
    gpt.SelfAttention). x (B, T, C), allowed bool broadcasting to (B, H, T, T) -> (B, T, C)."""
    B, T, C = x.shape
    q, k, v = attn.c_attn(x).split(C, dim=2)
    q, k, v = (t.view(B, T, attn.n_head, C // attn.n_head).transpose(1, 2) for t in (q, k, v))
    scores = (q * (1.0 / math.sqrt(k.size(-1)))) @ k.transpose(-2, -1)
    scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
    probs = F.dropout(scores.softmax(-1), attn.dropout, attn.training)
    y = (probs @ v).transpose(1, 2).reshape(B, T, C)
    return F.dropout(attn.c_proj(y), attn.dropout, attn.training)


class SelfAttention(nn.Module):
    """Fused QKV and output projections (parameters c_attn, c_proj) attending where `allowed`."""

    def __init__(self, d_model, n_head, dropout):
        super().__init__()
        self.n_head, self.dropout = n_head, dropout
        self.c_attn = nn.Linear(d_model, 3 * d_model)
        self.c_proj = nn.Linear(d_model, d_model)

    def forward(self, x, allowed):
        return masked_attention(self, x, allowed)
