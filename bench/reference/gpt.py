"""GPT as torchzoo builds it (models/gpt.cpp), written the way nanoGPT's model.py is: learned
positions, pre-norm blocks, fused QKV, GELU MLP, tied output, GPT-2 initialisation."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class SelfAttention(nn.Module):
    def __init__(self, d_model, n_head, block_size, dropout):
        super().__init__()
        self.n_head, self.dropout = n_head, dropout
        self.c_attn = nn.Linear(d_model, 3 * d_model)
        self.c_proj = nn.Linear(d_model, d_model)
        self.register_buffer("causal", torch.tril(torch.ones(block_size, block_size, dtype=torch.bool)))

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(~self.causal[:T, :T], float("-inf"))
        att = F.dropout(F.softmax(att, dim=-1), self.dropout, self.training)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        return F.dropout(self.c_proj(y), self.dropout, self.training)


class MLP(nn.Module):
    def __init__(self, d_model, hidden, dropout):
        super().__init__()
        self.c_fc, self.c_proj, self.dropout = nn.Linear(d_model, hidden), nn.Linear(hidden, d_model), dropout

    def forward(self, x):
        return F.dropout(self.c_proj(F.gelu(self.c_fc(x))), self.dropout, self.training)


class Block(nn.Module):
    def __init__(self, d_model, n_head, block_size, dropout, mlp=None):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d_model)
        self.attn = SelfAttention(d_model, n_head, block_size, dropout)
        self.ln_2 = nn.LayerNorm(d_model)
        self.mlp = mlp if mlp is not None else MLP(d_model, 4 * d_model, dropout)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, vocab_size, n_layer, n_head, d_model, block_size, dropout=0.0, mlp_for_layer=None):
        super().__init__()
        self.wte = nn.Embedding(vocab_size, d_model)
        self.wpe = nn.Embedding(block_size, d_model)
        self.dropout = dropout
        mlp_for_layer = mlp_for_layer or (lambda i: None)
        self.h = nn.ModuleList(Block(d_model, n_head, block_size, dropout, mlp_for_layer(i)) for i in range(n_layer))
        self.ln_f = nn.LayerNorm(d_model)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * n_layer))
            elif p.dim() >= 2:
                nn.init.normal_(p, 0.0, 0.02)
            elif name.endswith(".bias"):
                nn.init.zeros_(p)

    def forward(self, ids):
        T = ids.size(1)
        x = F.dropout(self.wte(ids) + self.wpe(torch.arange(T)), self.dropout, self.training)
        for block in self.h:
            x = block(x)
        return F.linear(self.ln_f(x), self.wte.weight)


@torch.inference_mode()
def generate_cached(model: GPT, prompt: list, new_tokens: int) -> list:
    """Greedy continuation with a key/value cache preallocated per layer, as torchzoo's KVCache
    is: the prompt in one forward, then one token per forward attending to the cache."""
    n_head = model.h[0].attn.n_head
    C = model.wte.weight.size(1)
    hd = C // n_head
    size = len(prompt) + new_tokens
    keys = [torch.zeros(1, n_head, size, hd) for _ in model.h]
    values = [torch.zeros(1, n_head, size, hd) for _ in model.h]
    ids, length, generated = torch.tensor([prompt]), 0, []
    for _ in range(new_tokens):
        T = ids.size(1)
        x = model.wte(ids) + model.wpe(torch.arange(length, length + T))
        for block, k_cache, v_cache in zip(model.h, keys, values):
            attn = block.attn
            q, k, v = attn.c_attn(block.ln_1(x)).split(C, dim=2)
            q, k, v = (t.view(1, T, n_head, hd).transpose(1, 2) for t in (q, k, v))
            k_cache[:, :, length:length + T] = k
            v_cache[:, :, length:length + T] = v
            att = (q @ k_cache[:, :, :length + T].transpose(-2, -1)) * (1.0 / math.sqrt(hd))
            if T > 1:
                att = att.masked_fill(~attn.causal[length:length + T, :length + T], float("-inf"))
            y = (F.softmax(att, dim=-1) @ v_cache[:, :, :length + T]).transpose(1, 2).reshape(1, T, C)
            x = x + attn.c_proj(y)
            x = x + block.mlp(block.ln_2(x))
        logits = F.linear(model.ln_f(x[:, -1]), model.wte.weight)
        generated.append(int(logits.argmax(-1)))
        length += T
        ids = torch.tensor([[generated[-1]]])
    return generated
