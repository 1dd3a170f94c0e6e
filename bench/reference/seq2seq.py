"""The seq2seq model as torchzoo builds it for recipes/seq2seq_g2p.yaml (models/seq2seq.cpp,
trainers/seq2seq.cpp): a bidirectional LSTM encoder (a forward and a backward LSTM per layer, the
backward one reading each source reversed within its length), a bridge from the encoder's final
states to the decoder's initial ones, Luong general attention, and the teacher-forced decoder run
over the whole target at once (no input feeding); on the `pairs` data type's batches
(datasets/pairs.cpp), bucketed by length as data.bucket_batches asks."""
import torch
import torch.nn as nn
import torch.nn.functional as F

import data
from harness import Case, adamw, count_parameters, token_loss, update
from rnn import gather_time, reversal_index, zero_state

SPECIALS = ("<pad>", "<s>", "</s>")  # the recipe's special_tokens: [pad, bos, eos]


class EncoderLayer(nn.Module):
    def __init__(self, input_size, direction_size):
        super().__init__()
        self.fwd = nn.LSTM(input_size, direction_size, batch_first=True)
        self.bwd = nn.LSTM(input_size, direction_size, batch_first=True)

    def forward(self, x, reverse, last):
        """x (B, S, In) -> outputs (B, S, 2D) and the final states (B, 2D): the forward LSTM's at
        the last real token, the backward one's at the first."""
        D = self.fwd.hidden_size
        zeros = zero_state(x, 1, D)
        forward_out = self.fwd(x, (zeros, zeros))[0]
        forward_final = forward_out.gather(1, last.view(-1, 1, 1).expand(-1, 1, D)).squeeze(1)
        backward_out = gather_time(self.bwd(gather_time(x, reverse), (zeros, zeros))[0], reverse)
        return torch.cat([forward_out, backward_out], -1), torch.cat([forward_final, backward_out[:, 0]], -1)


class Seq2Seq(nn.Module):
    def __init__(self, vocab_size, embedding_dim, hidden_size, encoder_layers, dropout):
        super().__init__()
        H = self.hidden_size = hidden_size
        self.dropout = dropout
        self.source_embedding = nn.Embedding(vocab_size, embedding_dim)
        self.target_embedding = nn.Embedding(vocab_size, embedding_dim)
        # A bidirectional encoder gives each direction half the width.
        self.encoder = nn.ModuleList(EncoderLayer(embedding_dim if i == 0 else H, H // 2)
                                     for i in range(encoder_layers))
        self.bridge_h = nn.Linear(H, H)
        self.bridge_c = nn.Linear(H, H)
        self.decoder_rnn = nn.LSTM(embedding_dim, H, batch_first=True)
        self.attention = nn.Module()
        self.attention.query = nn.Linear(H, H, bias=False)  # luong_general's W_a
        self.combine = nn.Linear(2 * H, H, bias=False)
        self.output = nn.Linear(H, vocab_size)
        # Uniform in [-0.1, 0.1], as Sutskever et al. and Luong et al. initialise.
        for p in self.parameters():
            nn.init.uniform_(p, -0.1, 0.1)

    def forward(self, source, mask, target_input):  # -> logits (B, T, V)
        last = (mask.long().sum(1) - 1).clamp_min(0)
        reverse = reversal_index(mask)
        x = F.dropout(self.source_embedding(source), self.dropout, self.training)
        for i, layer in enumerate(self.encoder):
            if i > 0:
                x = F.dropout(x, self.dropout, self.training)
            x, final = layer(x, reverse, last)
        memory = x * mask.unsqueeze(-1).to(x.dtype)  # (B, S, H); luong's keys are the memory itself
        h0 = torch.tanh(self.bridge_h(final)).unsqueeze(0)  # (1, B, H): one decoder layer
        c0 = torch.tanh(self.bridge_c(final)).unsqueeze(0)

        embedded = F.dropout(self.target_embedding(target_input), self.dropout, self.training)
        states = self.decoder_rnn(embedded, (h0, c0))[0]  # (B, T, H)
        scores = self.attention.query(states).bmm(memory.transpose(1, 2))  # (B, T, S)
        weights = scores.masked_fill(~mask.unsqueeze(1), float("-inf")).softmax(-1)
        context = weights.bmm(memory)  # (B, T, H)
        attentional = torch.tanh(self.combine(torch.cat([context, states], -1)))
        return self.output(F.dropout(attentional, self.dropout, self.training))


def read_pairs(path):
    return [line.rstrip("\n").split("\t") for line in open(path, encoding="utf-8") if line.strip()]


def seq2seq_case(embedding_dim, hidden_size, encoder_layers, dropout, batch, bucket_batches, source_max_length,
                 target_max_length, lr, weight_decay, betas, clip):
    def build(args):
        pairs = read_pairs(data.data_file(args, "train.tsv"))
        vocab = data.char_vocabulary([text for pair in pairs for text in pair], SPECIALS)
        vocab_size = data.check_vocab_size(args, vocab)
        pad_id, bos_id, eos_id = (vocab[s] for s in SPECIALS)
        # target_max_length counts <s>: a target keeps at most target_max_length - 1 characters.
        examples = [([vocab[c] for c in source][:source_max_length], [vocab[c] for c in target][:target_max_length - 1])
                    for source, target in pairs]
        order = data.EpochOrder([len(s) + len(t) for s, t in examples], args.seed, batch, bucket_batches)

        model = Seq2Seq(vocab_size, embedding_dim, hidden_size, encoder_layers, dropout)
        model.train()
        optimizer = adamw(model, lr, weight_decay, betas)

        def step():
            picked = [examples[i] for i in order.next(batch)]
            source = data.pad([s for s, _ in picked], pad_id)
            mask = data.attention_mask([s for s, _ in picked])
            target_input = data.pad([[bos_id, *t] for _, t in picked], pad_id)
            target_output = data.pad([[*t, eos_id] for _, t in picked], data.IGNORE_INDEX)
            update(optimizer, token_loss(model(source, mask, target_input), target_output), model.parameters(), clip)
            return int(target_output.ne(data.IGNORE_INDEX).sum())  # trainers/seq2seq.cpp: the target tokens

        return Case(count_parameters(model), step)

    return build
