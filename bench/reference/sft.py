"""LoRA supervised fine-tuning as torchzoo runs recipes/sft_lora_gpt.yaml: the GPT of gpt.py,
frozen, with rank-r adapters on the named linear layers (models/nn/lora.cpp), trained on the
`instructions` data type's packed rows (datasets/instructions.cpp: several whole examples a row,
attention and positions within each, as models/gpt.cpp forward_packed and attention.cpp's
segment mask do) with the loss on the answer tokens only (trainers/sft.cpp)."""
import fnmatch
import json
import math
import random

import torch
import torch.nn as nn
import torch.nn.functional as F

import data
import gpt
from attention import masked_attention
from harness import Case, adamw, count_parameters, token_loss, update

SPECIALS = ("<pad>", "</s>")  # the base recipe's special_tokens: [pad, eos]


class LoRALinear(nn.Module):
    """A frozen linear layer plus a trainable low-rank update: y = x W^T + b + (alpha / r) *
    dropout(x) A^T B^T, A (r, in) uniform in +-1/sqrt(in), B (out, r) zero. It takes over the
    layer's own weight and bias, so their names and values stay."""

    def __init__(self, linear, rank, alpha, dropout):
        super().__init__()
        self.weight, self.bias = linear.weight, linear.bias
        bound = 1.0 / math.sqrt(linear.in_features)
        self.lora_A = nn.Parameter(torch.empty(rank, linear.in_features).uniform_(-bound, bound))
        self.lora_B = nn.Parameter(torch.zeros(linear.out_features, rank))
        self.scaling, self.dropout = alpha / rank, dropout

    def forward(self, x):
        update = F.linear(F.linear(F.dropout(x, self.dropout, self.training), self.lora_A), self.lora_B)
        return F.linear(x, self.weight, self.bias) + update * self.scaling


def path_matches(pattern, path):
    """lora.h path_matches: the pattern matches the whole path or its end after a '.'."""
    parts = path.split(".")
    return any(fnmatch.fnmatchcase(".".join(parts[i:]), pattern) for i in range(len(parts)))


def inject_lora(model, targets, rank, alpha, dropout):
    """lora.cpp inject_lora: adapters on the linear layers a target matches; every parameter but
    the adapters' frozen."""
    for path, module in list(model.named_modules()):
        if isinstance(module, nn.Linear) and any(path_matches(t, path) for t in targets):
            parent, _, name = path.rpartition(".")
            setattr(model.get_submodule(parent), name, LoRALinear(module, rank, alpha, dropout))
    for name, p in model.named_parameters():
        p.requires_grad_(name.endswith((".lora_A", ".lora_B")))


def positions_in_segments(segment_ids):
    """models/gpt.cpp: each token's position within its run of equal segment ids."""
    t = torch.arange(segment_ids.size(1)).expand_as(segment_ids)
    starts_here = torch.ones_like(segment_ids, dtype=torch.bool)
    starts_here[:, 1:] = segment_ids[:, 1:].ne(segment_ids[:, :-1])
    return t - torch.where(starts_here, t, torch.zeros_like(t)).cummax(1).values


def forward_packed(model, ids, segment_ids):
    """gpt.GPT's forward for packed rows: positions restart with each segment, and a query sees
    the earlier keys of its own segment only."""
    T = ids.size(1)
    x = F.dropout(model.wte(ids) + model.wpe(positions_in_segments(segment_ids)), model.dropout, model.training)
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    allowed = (causal & segment_ids.unsqueeze(-1).eq(segment_ids.unsqueeze(-2))).unsqueeze(1)  # (B, 1, T, T)
    for block in model.h:
        x = x + masked_attention(block.attn, block.ln_1(x), allowed)
        x = x + block.mlp(block.ln_2(x))
    return F.linear(model.ln_f(x), model.wte.weight)


def encode_examples(records, prompt_template, vocab, eos_id, limit):
    """Prompt and answer encoded apart and joined, </s> after the answer; labels ignore the prompt.
    An example of more than limit + 1 tokens is cut on the right."""
    examples = []
    for record in records:
        prompt = prompt_template.format(instruction=record["instruction"], input=record["input"])
        ids = [vocab.get(c, 0) for c in prompt]
        answer = [vocab.get(c, 0) for c in record["output"]] + [eos_id]
        examples.append(((ids + answer)[:limit + 1], ([data.IGNORE_INDEX] * len(ids) + answer)[:limit + 1]))
    return examples


def pack(examples, capacity, rng):
    """instructions.cpp pack_examples over a shuffled order: rows of at most `capacity` tokens of
    whole examples. Within a row an example's first label is ignored (the previous example's last
    token would predict it); each row keeps its examples' lengths for the segment ids."""
    rows = []
    for i in rng.sample(range(len(examples)), len(examples)):
        ids, labels = examples[i]
        if not rows or len(rows[-1][0]) + len(ids) > capacity:
            rows.append(([], [], []))
        row_ids, row_labels, lengths = rows[-1]
        row_labels += [data.IGNORE_INDEX, *labels[1:]] if row_ids else labels
        row_ids += ids
        lengths.append(len(ids))
    return rows


def collate(rows, pad_id):
    """input ids[:-1], target labels[1:], right-padded; segment ids 1, 2, ... of each input
    token's example, 0 on padding."""
    inputs = [ids[:-1] for ids, _, _ in rows]
    targets = [labels[1:] for _, labels, _ in rows]
    segments = [[k + 1 for k, n in enumerate(lengths) for _ in range(n)][:len(ids) - 1] for ids, _, lengths in rows]
    return data.pad(inputs, pad_id), data.pad(targets, data.IGNORE_INDEX), data.pad(segments, 0)


def lora_sft_case(n_layer, n_head, d_model, block_size, batch, dropout, prompt_template, rank, alpha, lora_dropout,
                  targets, lr, weight_decay, betas, clip):
    def build(args):
        records = [json.loads(line) for line in open(data.data_file(args, "train.jsonl"), encoding="utf-8")]
        # The char tokenizer learns from the data's texts: each prompt (rendered) and answer.
        texts = [t for r in records for t in (prompt_template.format(**r), r["output"])]
        vocab = data.char_vocabulary(texts, SPECIALS)
        vocab_size = data.check_vocab_size(args, vocab)
        pad_id, eos_id = (vocab[s] for s in SPECIALS)
        examples = encode_examples(records, prompt_template, vocab, eos_id, block_size)
        rows = pack(examples, block_size + 1, random.Random(args.seed))
        order = data.EpochOrder([len(ids) for ids, _, _ in rows], args.seed)

        model = gpt.GPT(vocab_size, n_layer, n_head, d_model, block_size, dropout)
        inject_lora(model, targets, rank, alpha, lora_dropout)
        model.train()
        optimizer = adamw(model, lr, weight_decay, betas)
        trainable = [p for p in model.parameters() if p.requires_grad]

        def step():
            ids, target, segment_ids = collate([rows[i] for i in order.next(batch)], pad_id)
            update(optimizer, token_loss(forward_packed(model, ids, segment_ids), target), trainable, clip)
            return ids.numel()

        return Case(count_parameters(model), step)

    return build
