#!/usr/bin/env python3
"""Plain Python PyTorch versions of the models bench/compare.py times against torchzoo.

    /usr/bin/python3 bench/reference.py CASE --steps 5 --warmup 2 --threads 2 --vocab-size V [--data DIR]

prints one JSON line: parameters, threads, median step_ms and tokens/s. Each case builds the
model torchzoo builds for the same recipe section (same shapes, initialisation scheme, optimizer
and gradient clipping) and trains it on batches of the same shape. The cases that read data take
DIR from `bench/make_data.py CASE DIR`, the files zoo trains bench/recipes/CASE.yaml on.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference"))

import torch  # noqa: E402

import bert  # noqa: E402
import bilstm  # noqa: E402
import gpt  # noqa: E402
import moe  # noqa: E402
import seq2seq  # noqa: E402
import sft  # noqa: E402
from harness import Case, adamw, count_parameters, main, token_loss, update  # noqa: E402


def gpt_case(n_layer, n_head, d_model, block_size, batch, dropout, lr=1e-3, weight_decay=0.1, betas=(0.9, 0.99)):
    def build(args):
        model = gpt.GPT(args.vocab_size, n_layer, n_head, d_model, block_size, dropout)
        model.train()
        optimizer = adamw(model, lr, weight_decay, betas)

        def step():
            ids = torch.randint(args.vocab_size, (batch, block_size + 1))
            update(optimizer, token_loss(model(ids[:, :-1]), ids[:, 1:]), model.parameters(), 1.0)
            return batch * block_size

        return Case(count_parameters(model), step)

    return build


def generate_case(n_layer, n_head, d_model, block_size, new_tokens):
    def build(args):
        model = gpt.GPT(args.vocab_size, n_layer, n_head, d_model, block_size)
        model.eval()
        return Case(count_parameters(model), lambda: len(gpt.generate_cached(model, [1], new_tokens)))

    return build


CASES = {
    # recipes/quickstart.yaml
    "gpt_quickstart": gpt_case(4, 4, 128, 64, 16, 0.0, lr=3e-3),
    # nanoGPT's config/train_shakespeare_char.py
    "gpt_shakespeare_char": gpt_case(6, 6, 384, 256, 64, 0.2),
    # The cases below read the files of `bench/make_data.py CASE DIR` (--data DIR), as zoo trains
    # bench/recipes/CASE.yaml on them. recipes/bert_mlm_brown.yaml (bert_mini):
    "bert_mlm": bert.mlm_case(4, 4, 256, max_positions=128, dropout=0.1, batch=32, mask_prob=0.15, lr=1e-3,
                              weight_decay=0.01, betas=(0.9, 0.98), clip=1.0),
    # recipes/bilstm_pos_brown.yaml; AdamW's betas are torchzoo's default (0.9, 0.95).
    "bilstm_tagger": bilstm.tagger_case(128, 256, 2, dropout=0.2, batch=32, bucket_batches=20, max_length=200,
                                        lr=3e-3, weight_decay=0.01, betas=(0.9, 0.95), clip=5.0),
    # recipes/seq2seq_g2p.yaml
    "seq2seq_attention": seq2seq.seq2seq_case(64, 256, 1, dropout=0.1, batch=64, bucket_batches=20,
                                              source_max_length=40, target_max_length=80, lr=3e-3,
                                              weight_decay=0.0, betas=(0.9, 0.95), clip=1.0),
    # recipes/moe_gpt_quickstart.yaml
    "moe_gpt": moe.moe_gpt_case(4, 4, 128, 64, batch=16, dropout=0.0, num_experts=4, top_k=2, every=2, hidden=256,
                                aux_loss_weight=0.01, z_loss_weight=0.001, lr=3e-3, weight_decay=0.1,
                                betas=(0.9, 0.99), clip=1.0),
    # recipes/sft_lora_gpt.yaml
    "lora_sft": sft.lora_sft_case(4, 4, 128, 256, batch=8, dropout=0.0,
                                  prompt_template="Q: {instruction}\n{input}\nA: ", rank=8, alpha=16,
                                  lora_dropout=0.05, targets=("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"),
                                  lr=3e-3, weight_decay=0.0, betas=(0.9, 0.99), clip=1.0),
    # bench/generate.cpp: the quickstart GPT with its context raised to 512, 256 greedy tokens
    "generate_kv": generate_case(4, 4, 128, 512, 256),
}

if __name__ == "__main__":
    main(CASES)
