"""The mixture-of-experts feed-forward as torchzoo builds it (models/nn/moe.cpp) and the GPT of
recipes/moe_gpt_quickstart.yaml around it, trained on random windows of a character-level text
(the `text` data type, datasets/text.cpp) with the lm trainer's loss plus the router losses."""
import torch
import torch.nn as nn

import data
import gpt
from harness import Case, adamw, count_parameters, token_loss, update


class MoE(nn.Module):
    """A linear router sends each token to its top_k experts (gate: softmax over the chosen
    logits); tokens are grouped by expert with one stable sort, each expert runs once on its
    group, and one index_add sums the gated outputs. No capacity limit (the recipe sets none)."""

    def __init__(self, d_model, hidden, num_experts, top_k, dropout):
        super().__init__()
        self.num_experts, self.top_k = num_experts, top_k
        self.router = nn.Linear(d_model, num_experts, bias=False)
        self.experts = nn.ModuleList(gpt.MLP(d_model, hidden, dropout) for _ in range(num_experts))
        self.balance_loss = self.z_loss = None  # of the last training forward, unweighted

    def forward(self, x):
        E, k = self.num_experts, self.top_k
        flat = x.reshape(-1, x.size(-1))  # (N, C)
        logits = self.router(flat).float()  # (N, E)
        probs = logits.softmax(-1)
        top_logits, top_experts = logits.topk(k, -1)  # (N, k)
        gate = top_logits.softmax(-1)
        assigned = top_experts.reshape(-1)  # (N k): assignment i belongs to token i // k
        counts = torch.bincount(assigned, minlength=E)
        if self.training:
            # Switch Transformer's balance: E * sum_i f_i P_i (f: share of assignments, P: mean
            # probability); the z-loss mean(logsumexp(logits)^2).
            share = counts.float() / counts.sum()
            self.balance_loss = E * (share * probs.mean(0)).sum()
            self.z_loss = torch.logsumexp(logits, -1).square().mean()

        order = torch.sort(assigned, stable=True).indices  # token order kept within each expert
        token = order.div(k, rounding_mode="floor")
        weight = gate.reshape(-1).to(x.dtype).index_select(0, order)
        sizes = counts.tolist()
        groups = flat.index_select(0, token).split(sizes, 0)
        outputs = [expert(group) for expert, group, size in zip(self.experts, groups, sizes) if size > 0]
        y = torch.cat(outputs, 0) * weight.unsqueeze(1)  # (N k, C)
        return torch.zeros_like(flat).index_add(0, token, y).view_as(x)


def moe_gpt_case(n_layer, n_head, d_model, block_size, batch, dropout, num_experts, top_k, every, hidden,
                 aux_loss_weight, z_loss_weight, lr, weight_decay, betas, clip):
    def build(args):
        text = open(data.data_file(args, "train.txt"), encoding="utf-8").read()
        vocab = data.char_vocabulary([text])
        stream = torch.tensor([vocab[c] for c in text], dtype=torch.long)
        vocab_size = data.check_vocab_size(args, vocab)

        def mlp_for_layer(i):  # blocks every-1, 2*every-1, ... hold an MoE layer
            return MoE(d_model, hidden, num_experts, top_k, dropout) if (i + 1) % every == 0 else None

        model = gpt.GPT(vocab_size, n_layer, n_head, d_model, block_size, dropout, mlp_for_layer)
        model.train()
        moe_layers = [m for m in model.modules() if isinstance(m, MoE)]
        optimizer = adamw(model, lr, weight_decay, betas)
        offsets = torch.arange(block_size + 1)

        def step():
            # B windows of block_size + 1 tokens at uniformly random starts in [0, n - block_size).
            windows = stream[torch.randint(len(stream) - block_size, (batch, 1)) + offsets]
            loss = token_loss(model(windows[:, :-1]), windows[:, 1:])
            for moe in moe_layers:  # trainers/loop.cpp backward(): the weighted router losses join the loss
                loss = loss + aux_loss_weight * moe.balance_loss + z_loss_weight * moe.z_loss
            update(optimizer, loss, model.parameters(), clip)
            return batch * block_size

        return Case(count_parameters(model), step)

    return build
