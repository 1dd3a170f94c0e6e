// An LSTM whose training step on the CPU is one autograd node a layer instead of a dozen small
// ops a time step.
#pragma once

#include <torch/torch.h>

#include <tuple>
#include <vector>

namespace zoo::models::nn {

using LSTMState = std::tuple<torch::Tensor, torch::Tensor>;  // (h, c), each (layers, B, H)

// What module->forward(x, state) returns for a batch_first, one-direction torch::nn::LSTM: the
// top layer's outputs (B, T, H) and the final states. With gradients on, on the CPU, in float32,
// each layer is fused_lstm_layer (the module's between-layer dropout is nn::dropout); anywhere
// else (evaluation, tracing for export, CUDA's cuDNN, other types) it is the module's own forward.
// The weights are the module's, so checkpoints and exports do not depend on which path ran.
std::tuple<torch::Tensor, LSTMState> lstm(torch::nn::LSTM& module, const torch::Tensor& x, const LSTMState& state);

// One LSTM layer in torch.nn's gate order (input, forget, cell, output), computed as libtorch's
// own CPU LSTM computes it (all time steps' input projections in one GEMM first) but with each
// step one GEMM and one fused pass for the gates and states, and a backward written out: per step
// one GEMM and one fused pass, and the weight gradients in two GEMMs over all steps at the end.
// x (B, T, In) float32 on the CPU, h0 and c0 (B, H), w_ih (4H, In), w_hh (4H, H), b_ih and b_hh
// (4H) -> {output (B, T, H), h_n (B, H), c_n (B, H)}.
std::vector<torch::Tensor> fused_lstm_layer(const torch::Tensor& x, const torch::Tensor& h0, const torch::Tensor& c0,
                                            const torch::Tensor& w_ih, const torch::Tensor& w_hh,
                                            const torch::Tensor& b_ih, const torch::Tensor& b_hh);

}  // namespace zoo::models::nn
