// An LSTM whose training step on the CPU is one autograd node a layer instead of a dozen small
// ops a time step.
#pragma once

#include <torch/torch.h>

#include <tuple>

namespace zoo::models::nn {

using LSTMState = std::tuple<torch::Tensor, torch::Tensor>;  // (h, c), each (layers, B, H)

// What module->forward(x, state) returns for a batch_first, one-direction torch::nn::LSTM: the
// top layer's outputs (B, T, H) and the final states. With gradients on, on the CPU, in float32,
// each layer is one autograd node of our own (lstm.cpp; the module's between-layer dropout is
// nn::dropout): libtorch's order of work (every step's input projection in one GEMM first), but
// each step one GEMM and one vectorised pass for the gates and states, and a backward written
// out, per step one pass and one GEMM, the weight gradients in two GEMMs over all steps. Anywhere
// else (evaluation, tracing for export, CUDA's cuDNN, other types) it is the module's own forward.
// The weights are the module's, so checkpoints and exports do not depend on which path ran.
std::tuple<torch::Tensor, LSTMState> lstm(torch::nn::LSTM& module, const torch::Tensor& x, const LSTMState& state);

// The same over a right-padded x whose rows have `lengths` (B) real steps: the outputs (B, T, H)
// at real positions are lstm()'s, those at padding unspecified. On the fused path a step runs
// only the rows still in their real tokens (rows not in order of length run permuted to it),
// leaves zeros at padding and passes no gradient through it; elsewhere it is lstm(), and the
// lengths, which may be on any device, are not read.
torch::Tensor lstm_padded(torch::nn::LSTM& module, const torch::Tensor& x, const LSTMState& state,
                          const torch::Tensor& lengths);

}  // namespace zoo::models::nn
