"""What every Python reference case shares: threads, the timed loop, the JSON line it prints.

A case module defines `build(args) -> Case`; this file times Case.step the way the C++ side is
timed (first `warmup` steps untimed, then the median of `steps` step times) and prints one JSON
line the driver (bench/compare.py) reads.
"""
import argparse
import dataclasses
import json
import os
import statistics
import time
from typing import Callable

import torch
import torch.nn.functional as F

import data


@dataclasses.dataclass
class Case:
    parameters: int  # distinct parameter elements, to check both sides built the same model
    step: Callable[[], int]  # one training (or generation) step; returns the tokens it processed


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    p.add_argument("case")
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--vocab-size", type=int, default=0)
    p.add_argument("--data", default="")
    p.add_argument("--seed", type=int, default=0)
    return p


def adamw(model: torch.nn.Module, lr: float, weight_decay: float, betas=(0.9, 0.999)) -> torch.optim.Optimizer:
    """AdamW with torchzoo's split: matrices decay; biases, norms and embedding tables do not."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        embedding = "emb" in name or "wte" in name or "wpe" in name
        (decay if p.dim() >= 2 and not embedding else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=betas)


def token_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the targets that are not padding (data.IGNORE_INDEX)."""
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=data.IGNORE_INDEX)


def update(optimizer: torch.optim.Optimizer, loss: torch.Tensor, parameters, clip: float) -> None:
    """The end of every training step, as torchzoo's loop does it: backward, clip the global
    gradient norm, step, and gradients set to none for the next step."""
    loss.backward()
    torch.nn.utils.clip_grad_norm_(parameters, clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def run(args, case: Case) -> None:
    times, tokens = [], []
    for i in range(args.warmup + args.steps):
        start = time.perf_counter()
        n = case.step()
        elapsed = time.perf_counter() - start
        if i >= args.warmup:
            times.append(elapsed)
            tokens.append(n)
    step_s = statistics.median(times)
    tokens_per_s = statistics.median(n / t for n, t in zip(tokens, times))
    print(json.dumps({"side": "python", "case": args.case, "parameters": case.parameters, "threads": torch.get_num_threads(),
                      "step_ms": step_s * 1e3, "tokens_per_s": tokens_per_s}))


def main(builders: dict) -> None:
    args = parser().parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    if args.case not in builders:
        raise SystemExit(f"reference: unknown case '{args.case}' (cases: {', '.join(builders)})")
    run(args, builders[args.case](args))
