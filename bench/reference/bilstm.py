"""The BiLSTM tagger as torchzoo builds it for the tag trainer (models/bilstm.cpp,
trainers/classify.cpp): embedding -> dropout -> per layer a forward LSTM and a backward LSTM of
its own, the backward one reading every row reversed within its length (not packed sequences),
dropout between layers and before the tag head; on the `tagging` data type's batches
(datasets/labelled.cpp), bucketed by length as data.bucket_batches asks.

bench/bilstm_tagger.py is the other Python version, written the way a PyTorch user would (one
bidirectional nn.LSTM over packed sequences), for bench/bilstm_vs_python.sh."""
import torch
import torch.nn as nn
import torch.nn.functional as F

import data
from harness import Case, adamw, count_parameters, token_loss, update
from rnn import gather_time, reversal_index, zero_state


def read_conll(path):
    """word<TAB>tag lines, a blank line after each sentence -> [(words, tags)]."""
    sentences, words, tags = [], [], []
    for line in open(path, encoding="utf-8"):
        fields = line.split()
        if not fields:
            if words:
                sentences.append((words, tags))
            words, tags = [], []
            continue
        words.append(fields[0])
        tags.append(fields[-1])
    if words:
        sentences.append((words, tags))
    return sentences


class Tagger(nn.Module):
    def __init__(self, vocab_size, tags, embedding_dim, hidden_size, num_layers, dropout):
        super().__init__()
        self.hidden_size, self.dropout = hidden_size, dropout
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.layers = nn.ModuleList()
        for i in range(num_layers):
            layer = nn.Module()
            size = embedding_dim if i == 0 else 2 * hidden_size
            layer.forward_lstm = nn.LSTM(size, hidden_size, batch_first=True)
            layer.backward_lstm = nn.LSTM(size, hidden_size, batch_first=True)
            self.layers.append(layer)
        self.tagger = nn.Linear(2 * hidden_size, tags)

    def forward(self, ids, mask):  # (B, T) -> tag logits (B, T, tags)
        x = F.dropout(self.embedding(ids), self.dropout, self.training)
        reverse = reversal_index(mask)
        for i, layer in enumerate(self.layers):
            if i > 0:
                x = F.dropout(x, self.dropout, self.training)
            zeros = zero_state(x, 1, self.hidden_size)
            forward_states = layer.forward_lstm(x, (zeros, zeros))[0]
            backward_states = gather_time(layer.backward_lstm(gather_time(x, reverse), (zeros, zeros))[0], reverse)
            x = torch.cat([forward_states, backward_states], -1)
        return self.tagger(F.dropout(x, self.dropout, self.training))


def tagger_case(embedding_dim, hidden_size, num_layers, dropout, batch, bucket_batches, max_length, lr, weight_decay,
                betas, clip):
    def build(args):
        sentences = read_conll(data.data_file(args, "train.conll"))
        vocab = data.word_vocabulary(" ".join(words) for words, _ in sentences)
        vocab_size = data.check_vocab_size(args, vocab)
        tag_ids = {tag: i for i, tag in enumerate(sorted({t for _, tags in sentences for t in tags}))}
        # One token per word (the word tokenizer keeps these words whole), its tag on it.
        examples = [([vocab[w] for w in words][:max_length], [tag_ids[t] for t in tags][:max_length])
                    for words, tags in sentences]
        order = data.EpochOrder([len(ids) for ids, _ in examples], args.seed, batch, bucket_batches)
        pad_id = 0  # no <pad> in the bench recipe's tokenizer: datasets::pad_id falls back to 0

        model = Tagger(vocab_size, len(tag_ids), embedding_dim, hidden_size, num_layers, dropout)
        model.train()
        optimizer = adamw(model, lr, weight_decay, betas)

        def step():
            picked = [examples[i] for i in order.next(batch)]
            ids = data.pad([ids for ids, _ in picked], pad_id)
            mask = data.attention_mask([ids for ids, _ in picked])
            labels = data.pad([tags for _, tags in picked], data.IGNORE_INDEX)
            update(optimizer, token_loss(model(ids, mask), labels), model.parameters(), clip)
            return ids.numel()

        return Case(count_parameters(model), step)

    return build
