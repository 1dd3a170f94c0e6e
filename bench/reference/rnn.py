"""models/nn/rnn.cpp: recurrent layers over right-padded batches without packed sequences. A
backward RNN reads each row reversed within its own length (a gather), so padding never reaches
a real position."""
import torch


def reversal_index(mask):
    """mask (B, T) true on real tokens -> (B, T) index reversing each row's real positions and
    leaving its padding in place."""
    positions = torch.arange(mask.size(1)).expand_as(mask)
    lengths = mask.long().sum(1, keepdim=True)
    return torch.where(positions < lengths, lengths - 1 - positions, positions)


def gather_time(x, index):
    """x (B, T, C) reordered along time by index (B, T)."""
    return x.gather(1, index.unsqueeze(-1).expand_as(x))


def zero_state(x, layers, hidden):
    """Zero initial LSTM states (layers, B, hidden) for x (B, T, C)."""
    return x.new_zeros(layers, x.size(0), hidden)
