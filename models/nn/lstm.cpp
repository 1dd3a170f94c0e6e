#include "models/nn/lstm.h"

#include <ATen/Parallel.h>
#include <torch/csrc/jit/frontend/tracer.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "core/vectorize.h"
#include "models/nn/dropout.h"

namespace zoo::models::nn {
namespace {

using torch::Tensor;

// expf as Cephes computes it (x = n ln2 + f, |f| <= ln2 / 2, a polynomial for e^f, 2^n put in the
// exponent bits), branch-free so that the loops around it vectorise, where std::exp is a call per
// element. Measured over every float in [-87, 88] against double exp: at most 1.02 ulp off.
inline float exp_approx(float x) {
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);  // not std::fmin/fmax: their NaN rules make them calls
  const float n = std::floor(x * 1.44269504088896341f + 0.5f);
  const float f = (x - n * 0.693359375f) + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * f + 1.3981999507e-3f;
  p = p * f + 8.3334519073e-3f;
  p = p * f + 4.1665795894e-2f;
  p = p * f + 1.6666665459e-1f;
  p = p * f + 5.0000001201e-1f;
  p = p * f * f + f + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

inline float sigmoid(float x) { return 1.0f / (1.0f + exp_approx(-x)); }
inline float tanh_approx(float x) { return 2.0f / (1.0f + exp_approx(-2.0f * x)) - 1.0f; }

// Strides, in floats, between consecutive rows (batch entries) of one time step's slices: of the
// (B, T, 4H) buffers (gates, input projection, gate gradients), of the (B, T, H) ones (cells,
// outputs, output gradients), and of c_{t-1}, which at t = 0 is c0's (B, H).
struct RowStrides {
  int64_t gates, state, cell_prev;
};

RowStrides step_strides(int64_t T, int64_t H, int64_t t) { return {T * 4 * H, T * H, t == 0 ? H : T * H}; }

const float* previous_cell(const Tensor& c0, const Tensor& cells, int64_t t) {
  return t == 0 ? c0.data_ptr<float>() : cells.select(1, t - 1).data_ptr<float>();
}

// One time step for rows [begin, end): gates (4H a row) hold h_{t-1} W_hh^T on entry and the
// activated gates on exit; the pre-activations add the step's input projection. The slices never
// overlap, which GCC cannot prove with this many pointers: ivdep lets it vectorise regardless.
ZOO_VECTOR_CLONES
void cell_forward(int64_t begin, int64_t end, int64_t H, float* gates, const float* input_projection,
                  const float* cell_prev, float* cell, float* hidden, RowStrides s) {
  for (int64_t row = begin; row < end; ++row) {
    float* __restrict gi = gates + row * s.gates;
    float* __restrict gf = gi + H;
    float* __restrict gz = gi + 2 * H;
    float* __restrict go = gi + 3 * H;
    const float* __restrict xi = input_projection + row * s.gates;
    const float* __restrict xf = xi + H;
    const float* __restrict xz = xi + 2 * H;
    const float* __restrict xo = xi + 3 * H;
    const float* __restrict c_prev = cell_prev + row * s.cell_prev;
    float* __restrict c = cell + row * s.state;
    float* __restrict h = hidden + row * s.state;
#pragma GCC ivdep
    for (int64_t j = 0; j < H; ++j) {
      const float i = sigmoid(gi[j] + xi[j]);
      const float f = sigmoid(gf[j] + xf[j]);
      const float z = tanh_approx(gz[j] + xz[j]);
      const float o = sigmoid(go[j] + xo[j]);
      const float c_new = f * c_prev[j] + i * z;
      gi[j] = i;
      gf[j] = f;
      gz[j] = z;
      go[j] = o;
      c[j] = c_new;
      h[j] = o * tanh_approx(c_new);
    }
  }
}

// The same step backwards: from the activated gates, c_t, c_{t-1} and dL/dh_t (the step's output
// gradient plus the recurrent one), the pre-activation gradients into grad_gates, and dL/dc
// carried from c_t (in grad_cell) to c_{t-1}.
ZOO_VECTOR_CLONES
void cell_backward(int64_t begin, int64_t end, int64_t H, const float* gates, const float* cell,
                   const float* cell_prev, const float* grad_output, const float* grad_recurrent, float* grad_cell,
                   float* grad_gates, RowStrides s) {
  for (int64_t row = begin; row < end; ++row) {
    const float* __restrict gi = gates + row * s.gates;
    const float* __restrict gf = gi + H;
    const float* __restrict gz = gi + 2 * H;
    const float* __restrict go = gi + 3 * H;
    const float* __restrict c = cell + row * s.state;
    const float* __restrict c_prev = cell_prev + row * s.cell_prev;
    const float* __restrict dy = grad_output + row * s.state;
    const float* __restrict dh_rec = grad_recurrent + row * H;
    float* __restrict dc_carry = grad_cell + row * H;
    float* __restrict di = grad_gates + row * s.gates;
    float* __restrict df = di + H;
    float* __restrict dz = di + 2 * H;
    float* __restrict d_o = di + 3 * H;
#pragma GCC ivdep
    for (int64_t j = 0; j < H; ++j) {
      const float i = gi[j], f = gf[j], z = gz[j], o = go[j];
      const float dh = dy[j] + dh_rec[j];
      const float tc = tanh_approx(c[j]);
      const float dc = dc_carry[j] + dh * o * (1.0f - tc * tc);
      di[j] = dc * z * i * (1.0f - i);
      df[j] = dc * c_prev[j] * f * (1.0f - f);
      dz[j] = dc * i * (1.0f - z * z);
      d_o[j] = dh * tc * o * (1.0f - o);
      dc_carry[j] = dc * f;
    }
  }
}

// Rows a parallel chunk takes: a step's gate pass is small (64 x 1024 gates in the bench seq2seq
// decoder), and waking a worker for it costs more than it saves: at 16k gates a chunk that
// decoder trained at 17-19k tokens/s against 19-26k unsplit (bench/NOTES.md section 7). So it is
// split only when each thread gets at least 64k gates.
int64_t row_grain(int64_t H) { return std::max<int64_t>(1, (1 << 16) / (4 * H)); }

// One layer in torch.nn's gate order (input, forget, cell, output): x (B, T, In), h0 and c0 (B, H),
// w_ih (4H, In), w_hh (4H, H), b_ih and b_hh (4H) -> {output (B, T, H), h_n (B, H), c_n (B, H)}.
class FusedLSTMLayer : public torch::autograd::Function<FusedLSTMLayer> {
 public:
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx, const Tensor& input,
                                                const Tensor& h0_in, const Tensor& c0_in, const Tensor& w_ih,
                                                const Tensor& w_hh, const Tensor& b_ih, const Tensor& b_hh) {
    const auto x = input.contiguous();
    const auto h0 = h0_in.contiguous(), c0 = c0_in.contiguous();
    const int64_t B = x.size(0), T = x.size(1), In = x.size(2), H = w_hh.size(1);
    // Every step's input projection at once, biases folded in: (B, T, 4H).
    const auto input_projection = torch::addmm(b_ih + b_hh, x.view({B * T, In}), w_ih.t()).view({B, T, 4 * H});
    auto gates = torch::empty({B, T, 4 * H}, x.options());
    auto cells = torch::empty({B, T, H}, x.options());
    auto output = torch::empty({B, T, H}, x.options());
    const auto w_hh_t = w_hh.t();
    for (int64_t t = 0; t < T; ++t) {
      const auto h_prev = t == 0 ? h0 : output.select(1, t - 1);
      auto step_gates = gates.select(1, t);  // rows T * 4H apart: BLAS writes it in place
      torch::mm_out(step_gates, h_prev, w_hh_t);
      at::parallel_for(0, B, row_grain(H), [&](int64_t begin, int64_t end) {
        cell_forward(begin, end, H, step_gates.data_ptr<float>(), input_projection.select(1, t).data_ptr<float>(),
                     previous_cell(c0, cells, t), cells.select(1, t).data_ptr<float>(),
                     output.select(1, t).data_ptr<float>(), step_strides(T, H, t));
      });
    }
    ctx->save_for_backward({x, h0, c0, w_ih, w_hh, output});
    ctx->saved_data["gates"] = gates;
    ctx->saved_data["cells"] = cells;
    // Clones, not views: an autograd node's outputs may not be views of one another.
    return {output, output.select(1, T - 1).clone(), cells.select(1, T - 1).clone()};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &x = saved[0], &h0 = saved[1], &c0 = saved[2], &w_ih = saved[3], &w_hh = saved[4], &output = saved[5];
    const auto gates = ctx->saved_data["gates"].toTensor();
    const auto cells = ctx->saved_data["cells"].toTensor();
    const int64_t B = x.size(0), T = x.size(1), In = x.size(2), H = w_hh.size(1);

    const auto grad_output = grads[0].defined() ? grads[0].contiguous() : torch::zeros_like(output);
    // dL/dh and dL/dc flowing into step t from step t + 1 (at the last step: from h_n and c_n).
    auto grad_recurrent = grads[1].defined() ? grads[1].contiguous().clone() : torch::zeros({B, H}, x.options());
    auto grad_cell = grads[2].defined() ? grads[2].contiguous().clone() : torch::zeros({B, H}, x.options());
    auto grad_gates = torch::empty_like(gates);  // (B, T, 4H), pre-activation
    for (int64_t t = T - 1; t >= 0; --t) {
      auto step_grad_gates = grad_gates.select(1, t);
      at::parallel_for(0, B, row_grain(H), [&](int64_t begin, int64_t end) {
        cell_backward(begin, end, H, gates.select(1, t).data_ptr<float>(), cells.select(1, t).data_ptr<float>(),
                      previous_cell(c0, cells, t), grad_output.select(1, t).data_ptr<float>(),
                      grad_recurrent.data_ptr<float>(), grad_cell.data_ptr<float>(), step_grad_gates.data_ptr<float>(),
                      step_strides(T, H, t));
      });
      torch::mm_out(grad_recurrent, step_grad_gates, w_hh);  // dL/dh_{t-1} through W_hh
    }
    const auto grad_gates_2d = grad_gates.view({B * T, 4 * H});
    // h_{t-1} for every step, h0 first: (B * T, H), rows in grad_gates' order.
    const auto h_prev = torch::cat({h0.unsqueeze(1), output.narrow(1, 0, T - 1)}, 1).view({B * T, H});
    auto grad_w_hh = grad_gates_2d.t().mm(h_prev);
    auto grad_w_ih = grad_gates_2d.t().mm(x.view({B * T, In}));
    auto grad_x = grad_gates_2d.mm(w_ih).view({B, T, In});
    auto grad_bias = grad_gates_2d.sum(0);
    return {grad_x, grad_recurrent, grad_cell, grad_w_ih, grad_w_hh, grad_bias, grad_bias.clone()};
  }
};

bool fused_path_applies(const torch::nn::LSTM& module, const Tensor& x) {
  const auto& o = module->options;
  return torch::GradMode::is_enabled() && !torch::jit::tracer::isTracing() && x.device().is_cpu() &&
         x.scalar_type() == torch::kFloat && o.batch_first() && !o.bidirectional() && o.bias() && o.proj_size() == 0 &&
         x.dim() == 3 && x.size(1) > 0;
}

}  // namespace

std::tuple<Tensor, LSTMState> lstm(torch::nn::LSTM& module, const Tensor& x, const LSTMState& state) {
  if (!fused_path_applies(module, x)) return module->forward(x, state);
  const auto& [h0, c0] = state;
  const auto weights = module->all_weights();  // per layer: w_ih, w_hh, b_ih, b_hh
  const int64_t layers = module->options.num_layers();
  std::vector<Tensor> h_n, c_n;
  Tensor y = x;
  for (int64_t layer = 0; layer < layers; ++layer) {
    if (layer > 0) y = nn::dropout(y, module->options.dropout(), module->is_training());
    auto result = FusedLSTMLayer::apply(y, h0[layer], c0[layer], weights[4 * layer], weights[4 * layer + 1],
                                        weights[4 * layer + 2], weights[4 * layer + 3]);
    y = result[0];
    h_n.push_back(result[1]);
    c_n.push_back(result[2]);
  }
  return {y, {torch::stack(h_n), torch::stack(c_n)}};
}

}  // namespace zoo::models::nn
