"""BERT as torchzoo builds it for the mlm trainer (models/bert.cpp, trainers/mlm.cpp): token,
position and segment embeddings, post-norm blocks, exact GELU, padding mask, and the masked-LM
head tied to the token embedding, on the `sentences` data type's batches (datasets/sentences.cpp)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

import data
import gpt
from attention import SelfAttention
from harness import Case, adamw, count_parameters, update

SPECIALS = ("<pad>", "<mask>", "<cls>", "<sep>")  # the bench recipe's special_tokens: [pad, mask, cls, sep]


class Embeddings(nn.Module):
    def __init__(self, vocab_size, d_model, max_positions, type_vocab_size, dropout, eps):
        super().__init__()
        self.word = nn.Embedding(vocab_size, d_model)
        self.position = nn.Embedding(max_positions, d_model)
        self.segment = nn.Embedding(type_vocab_size, d_model)
        self.norm = nn.LayerNorm(d_model, eps=eps)
        self.dropout = dropout

    def forward(self, ids, segment_ids):
        x = self.word(ids) + self.position(torch.arange(ids.size(1))) + self.segment(segment_ids)
        return F.dropout(self.norm(x), self.dropout, self.training)


class Layer(nn.Module):
    """Post-norm: x = ln_1(x + attn(x)); x = ln_2(x + mlp(x))."""

    def __init__(self, d_model, n_head, d_ff, dropout, eps):
        super().__init__()
        self.attn = SelfAttention(d_model, n_head, dropout)
        self.ln_1 = nn.LayerNorm(d_model, eps=eps)
        self.mlp = gpt.MLP(d_model, d_ff, dropout)
        self.ln_2 = nn.LayerNorm(d_model, eps=eps)

    def forward(self, x, allowed):
        y = self.ln_1(x + self.attn(x, allowed))
        return self.ln_2(y + self.mlp(y))


class MaskedLMHead(nn.Module):
    """dense -> GELU -> LayerNorm, then the token embedding as decoder plus a bias per token."""

    def __init__(self, vocab_size, d_model, eps):
        super().__init__()
        self.dense = nn.Linear(d_model, d_model)
        self.norm = nn.LayerNorm(d_model, eps=eps)
        self.bias = nn.Parameter(torch.zeros(vocab_size))

    def forward(self, states, word_embeddings):  # (N, C) -> (N, V)
        return F.linear(self.norm(F.gelu(self.dense(states))), word_embeddings, self.bias)


class Bert(nn.Module):
    def __init__(self, vocab_size, n_layer, n_head, d_model, max_positions, dropout, d_ff=0, type_vocab_size=2,
                 eps=1e-12):
        super().__init__()
        self.embeddings = Embeddings(vocab_size, d_model, max_positions, type_vocab_size, dropout, eps)
        self.layers = nn.ModuleList(Layer(d_model, n_head, d_ff or 4 * d_model, dropout, eps) for _ in range(n_layer))
        self.mlm = MaskedLMHead(vocab_size, d_model, eps)
        # BERT: every matrix and embedding N(0, 0.02), other parameters 0, LayerNorms as they are.
        for name, p in self.named_parameters():
            if "norm" in name or "ln_" in name:
                continue
            if p.dim() >= 2:
                nn.init.normal_(p, 0.0, 0.02)
            else:
                nn.init.zeros_(p)

    def encode(self, ids, attention_mask, segment_ids):  # (B, T) -> (B, T, C)
        x = self.embeddings(ids, segment_ids)
        allowed = attention_mask[:, None, None, :]  # (B, 1, 1, S): no query attends to padding
        for layer in self.layers:
            x = layer(x, allowed)
        return x

    def masked_lm_logits(self, states):  # (N, C) -> (N, V)
        return self.mlm(states, self.embeddings.word.weight)


def read_chunks(path, vocab, budget):
    """datasets/sentences.cpp: the lines of each document (blank lines between documents) packed
    greedily into chunks of at most `budget` tokens; a longer line is cut to it."""
    chunks, chunk = [], []
    for line in open(path, encoding="utf-8"):
        if not line.strip():
            chunks.append(chunk)
            chunk = []
            continue
        ids = [vocab.get(w, 0) for w in line.split()][:budget]
        if len(chunk) + len(ids) > budget:
            chunks.append(chunk)
            chunk = []
        chunk += ids
    chunks.append(chunk)
    return [c for c in chunks if c]


def mask_tokens(ids, special_mask, mask_prob, mask_id, vocab_size):
    """trainers/mlm.cpp mask_tokens: of the non-special tokens mask_prob are chosen; of those 80%
    become [MASK], 10% a random token, 10% stay. Labels: the original id where chosen."""
    chosen = torch.rand(ids.shape).lt(mask_prob) & ~special_mask
    kind = torch.rand(ids.shape)
    random_ids = torch.randint(vocab_size, ids.shape)
    to_mask = chosen & kind.lt(0.8)
    to_random = chosen & kind.ge(0.8) & kind.lt(0.9)
    masked = ids.masked_fill(to_mask, mask_id).where(~to_random, random_ids)
    return masked, ids.masked_fill(~chosen, data.IGNORE_INDEX)


def mlm_case(n_layer, n_head, d_model, max_positions, dropout, batch, mask_prob, lr, weight_decay, betas, clip):
    def build(args):
        path = data.data_file(args, "train.txt")
        vocab = data.word_vocabulary((line for line in open(path, encoding="utf-8") if line.strip()), SPECIALS)
        vocab_size = data.check_vocab_size(args, vocab)
        pad_id, mask_id, cls_id, sep_id = (vocab[s] for s in SPECIALS)
        # data.max_length is max_positions: chunks leave room for [CLS] and [SEP].
        examples = [[cls_id, *chunk, sep_id] for chunk in read_chunks(path, vocab, max_positions - 2)]
        order = data.EpochOrder([len(e) for e in examples], args.seed)

        model = Bert(vocab_size, n_layer, n_head, d_model, max_positions, dropout)
        model.train()
        optimizer = adamw(model, lr, weight_decay, betas)

        def step():
            rows = [examples[i] for i in order.next(batch)]
            ids = data.pad(rows, pad_id)  # [CLS] chunk [SEP], padded to the longest row
            real = data.attention_mask(rows)
            special = ~real | ids.eq(cls_id) | ids.eq(sep_id)
            masked, labels = mask_tokens(ids, special, mask_prob, mask_id, vocab_size)
            hidden = model.encode(masked, real, torch.zeros_like(ids))  # (B, T, C), all sentence A
            # As trainers/mlm.cpp: only the chosen positions go through the vocabulary projection.
            chosen = labels.ne(data.IGNORE_INDEX)
            logits = model.masked_lm_logits(hidden[chosen])  # (N, V)
            loss = F.cross_entropy(logits, labels[chosen], reduction="sum") / chosen.sum().clamp_min(1)
            update(optimizer, loss, model.parameters(), clip)
            return ids.numel()

        return Case(count_parameters(model), step)

    return build
