#include "models/nn/lstm.h"

#include <ATen/Parallel.h>
#include <torch/csrc/jit/frontend/tracer.h>

#include <algorithm>
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
// (B, T, 4H) buffers (gates, gate gradients), of the (B, T, H) ones (cells, outputs, output
// gradients), and of c_{t-1}, which at t = 0 is c0's (B, H).
struct RowStrides {
  int64_t gates, state, cell_prev;
};

RowStrides step_strides(int64_t T, int64_t H, int64_t t) { return {T * 4 * H, T * H, t == 0 ? H : T * H}; }

// Step t's slice of a (B, T, C) buffer: its first row; the rows follow T * C floats apart.
template <class Float>
Float* at_step(const Tensor& buffer, int64_t t) {
  return buffer.data_ptr<float>() + t * buffer.size(2);
}

const float* previous_cell(const Tensor& c0, const Tensor& cells, int64_t t) {
  return t == 0 ? c0.data_ptr<float>() : at_step<const float>(cells, t - 1);
}

// One time step for rows [begin, end): gates (4H a row) hold the pre-activations on entry (the
// step's input projection plus h_{t-1} W_hh^T) and the activated gates on exit. The slices never
// overlap, which GCC cannot prove with this many pointers: ivdep lets it vectorise regardless.
ZOO_VECTOR_CLONES
void cell_forward(int64_t begin, int64_t end, int64_t H, float* gates, const float* cell_prev, float* cell,
                  float* hidden, RowStrides s) {
  for (int64_t row = begin; row < end; ++row) {
    float* __restrict gi = gates + row * s.gates;
    float* __restrict gf = gi + H;
    float* __restrict gz = gi + 2 * H;
    float* __restrict go = gi + 3 * H;
    const float* __restrict c_prev = cell_prev + row * s.cell_prev;
    float* __restrict c = cell + row * s.state;
    float* __restrict h = hidden + row * s.state;
#pragma GCC ivdep
    for (int64_t j = 0; j < H; ++j) {
      const float i = sigmoid(gi[j]);
      const float f = sigmoid(gf[j]);
      const float z = tanh_approx(gz[j]);
      const float o = sigmoid(go[j]);
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

// The rows step t runs: those still in their real tokens, which for rows in order of length
// (either way) are one block.
struct StepRows {
  int64_t begin, end;
  int64_t count() const { return end - begin; }
};

std::vector<StepRows> rows_per_step(const std::vector<int64_t>& lengths, int64_t B, int64_t T) {
  std::vector<StepRows> rows(T);
  const bool ascending = lengths.front() < lengths.back();
  for (int64_t t = 0; t < T; ++t) {
    const auto running = std::count_if(lengths.begin(), lengths.end(), [t](int64_t length) { return length > t; });
    rows[t] = ascending ? StepRows{B - running, B} : StepRows{0, running};
  }
  return rows;
}

// Zeroes each row's steps at and after its length in a contiguous (B, T, C) buffer: outputs there
// are padding, and the weight gradients sum over every step's gate gradients.
void zero_padding(Tensor& buffer, const std::vector<int64_t>& lengths) {
  const int64_t T = buffer.size(1), C = buffer.size(2);
  float* data = buffer.data_ptr<float>();
  for (size_t row = 0; row < lengths.size(); ++row)
    std::fill(data + (static_cast<int64_t>(row) * T + lengths[row]) * C, data + (static_cast<int64_t>(row) + 1) * T * C,
              0.0f);
}

// Row by row, a (B, T, H) buffer's state after each row's last real step; h0's or c0's (B, H)
// for a row of length 0.
Tensor last_states(const Tensor& buffer, const Tensor& initial, const std::vector<int64_t>& lengths) {
  const int64_t T = buffer.size(1), H = buffer.size(2);
  auto last = initial.clone();
  for (size_t row = 0; row < lengths.size(); ++row)
    if (lengths[row] > 0)
      std::copy_n(buffer.data_ptr<float>() + (static_cast<int64_t>(row) * T + lengths[row] - 1) * H, H,
                last.data_ptr<float>() + static_cast<int64_t>(row) * H);
  return last;
}

// One layer in torch.nn's gate order (input, forget, cell, output): x (B, T, In), h0 and c0 (B, H),
// w_ih (4H, In), w_hh (4H, H), b_ih and b_hh (4H) -> {output (B, T, H), h_n (B, H), c_n (B, H)}.
// `lengths` are the rows' real steps, in ascending or descending order (all T: a batch without
// padding): a step runs only the rows still in their real tokens, output is zero after each row's
// length, and h_n and c_n are each row's states after its last real step, as a packed sequence's.
class FusedLSTMLayer : public torch::autograd::Function<FusedLSTMLayer> {
 public:
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx, const Tensor& input,
                                                const Tensor& h0_in, const Tensor& c0_in, const Tensor& w_ih,
                                                const Tensor& w_hh, const Tensor& b_ih, const Tensor& b_hh,
                                                const std::vector<int64_t>& lengths) {
    const auto x = input.contiguous();
    const auto h0 = h0_in.contiguous(), c0 = c0_in.contiguous();
    const int64_t B = x.size(0), T = x.size(1), In = x.size(2), H = w_hh.size(1);
    const auto rows = rows_per_step(lengths, B, T);
    // Every step's input projection at once, biases folded in: (B, T, 4H). Each step adds its
    // h_{t-1} W_hh^T in place (BLAS with beta 1), and its gate pass activates them there.
    auto gates = torch::addmm(b_ih + b_hh, x.view({B * T, In}), w_ih.t()).view({B, T, 4 * H});
    auto cells = torch::empty({B, T, H}, x.options());
    auto output = torch::empty({B, T, H}, x.options());
    const auto w_hh_t = w_hh.t();
    for (int64_t t = 0; t < T && rows[t].count() > 0; ++t) {
      const auto [first, count] = std::make_pair(rows[t].begin, rows[t].count());
      const auto h_prev = (t == 0 ? h0 : output.select(1, t - 1)).narrow(0, first, count);
      auto step_gates = gates.select(1, t).narrow(0, first, count);  // rows T * 4H apart: BLAS writes it in place
      torch::addmm_out(step_gates, step_gates, h_prev, w_hh_t);
      at::parallel_for(rows[t].begin, rows[t].end, row_grain(H), [&](int64_t begin, int64_t end) {
        cell_forward(begin, end, H, at_step<float>(gates, t), previous_cell(c0, cells, t), at_step<float>(cells, t),
                     at_step<float>(output, t), step_strides(T, H, t));
      });
    }
    zero_padding(output, lengths);
    ctx->save_for_backward({x, h0, c0, w_ih, w_hh, output});
    ctx->saved_data["gates"] = gates;
    ctx->saved_data["cells"] = cells;
    ctx->saved_data["lengths"] = lengths;
    // Copies, not views: an autograd node's outputs may not be views of one another.
    return {output, last_states(output, h0, lengths), last_states(cells, c0, lengths)};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &x = saved[0], &h0 = saved[1], &c0 = saved[2], &w_ih = saved[3], &w_hh = saved[4], &output = saved[5];
    const auto gates = ctx->saved_data["gates"].toTensor();
    const auto cells = ctx->saved_data["cells"].toTensor();
    const int64_t B = x.size(0), T = x.size(1), In = x.size(2), H = w_hh.size(1);
    const auto lengths = ctx->saved_data["lengths"].toIntVector();
    const auto rows = rows_per_step(lengths, B, T);

    const auto grad_output = grads[0].defined() ? grads[0].contiguous() : torch::zeros_like(output);
    // dL/dh and dL/dc flowing into step t from step t + 1 (at a row's last step: from h_n and c_n).
    auto grad_recurrent = grads[1].defined() ? grads[1].contiguous().clone() : torch::zeros({B, H}, x.options());
    auto grad_cell = grads[2].defined() ? grads[2].contiguous().clone() : torch::zeros({B, H}, x.options());
    auto grad_gates = torch::empty_like(gates);  // (B, T, 4H), pre-activation
    zero_padding(grad_gates, lengths);
    for (int64_t t = T - 1; t >= 0; --t) {
      const auto [first, count] = std::make_pair(rows[t].begin, rows[t].count());
      if (count == 0) continue;
      auto step_grad_gates = grad_gates.select(1, t).narrow(0, first, count);
      at::parallel_for(rows[t].begin, rows[t].end, row_grain(H), [&](int64_t begin, int64_t end) {
        cell_backward(begin, end, H, at_step<const float>(gates, t), at_step<const float>(cells, t),
                      previous_cell(c0, cells, t), at_step<const float>(grad_output, t),
                      grad_recurrent.data_ptr<float>(), grad_cell.data_ptr<float>(), at_step<float>(grad_gates, t),
                      step_strides(T, H, t));
      });
      auto step_grad_recurrent = grad_recurrent.narrow(0, first, count);
      torch::mm_out(step_grad_recurrent, step_grad_gates, w_hh);  // dL/dh_{t-1} through W_hh
    }
    const auto grad_gates_2d = grad_gates.view({B * T, 4 * H});
    // h_{t-1} for every step, h0 first: (B * T, H), rows in grad_gates' order.
    const auto h_prev = torch::cat({h0.unsqueeze(1), output.narrow(1, 0, T - 1)}, 1).view({B * T, H});
    auto grad_w_hh = grad_gates_2d.t().mm(h_prev);
    auto grad_w_ih = grad_gates_2d.t().mm(x.view({B * T, In}));
    auto grad_x = grad_gates_2d.mm(w_ih).view({B, T, In});
    auto grad_bias = grad_gates_2d.sum(0);
    return {grad_x, grad_recurrent, grad_cell, grad_w_ih, grad_w_hh, grad_bias, grad_bias.clone(), Tensor()};
  }
};

bool fused_path_applies(const torch::nn::LSTM& module, const Tensor& x) {
  const auto& o = module->options;
  return torch::GradMode::is_enabled() && !torch::jit::tracer::isTracing() && x.device().is_cpu() &&
         x.scalar_type() == torch::kFloat && o.batch_first() && !o.bidirectional() && o.bias() && o.proj_size() == 0 &&
         x.dim() == 3 && x.size(1) > 0;
}

// Every layer of `module` on the fused path; lengths as FusedLSTMLayer's.
std::tuple<Tensor, LSTMState> fused_lstm(torch::nn::LSTM& module, const Tensor& x, const LSTMState& state,
                                         const std::vector<int64_t>& lengths) {
  TORCH_INTERNAL_ASSERT(static_cast<int64_t>(lengths.size()) == x.size(0));
  const auto& [h0, c0] = state;
  const auto weights = module->all_weights();  // per layer: w_ih, w_hh, b_ih, b_hh
  const int64_t layers = module->options.num_layers();
  std::vector<Tensor> h_n, c_n;
  Tensor y = x;
  for (int64_t layer = 0; layer < layers; ++layer) {
    if (layer > 0) y = nn::dropout(y, module->options.dropout(), module->is_training());
    auto result = FusedLSTMLayer::apply(y, h0[layer], c0[layer], weights[4 * layer], weights[4 * layer + 1],
                                        weights[4 * layer + 2], weights[4 * layer + 3], lengths);
    y = result[0];
    h_n.push_back(result[1]);
    c_n.push_back(result[2]);
  }
  return {y, {torch::stack(h_n), torch::stack(c_n)}};
}

}  // namespace

std::tuple<Tensor, LSTMState> lstm(torch::nn::LSTM& module, const Tensor& x, const LSTMState& state) {
  if (!fused_path_applies(module, x)) return module->forward(x, state);
  return fused_lstm(module, x, state, std::vector<int64_t>(x.size(0), x.size(1)));
}

Tensor lstm_padded(torch::nn::LSTM& module, const Tensor& x, const LSTMState& state, const Tensor& lengths) {
  if (!fused_path_applies(module, x)) return std::get<0>(module->forward(x, state));
  TORCH_CHECK(lengths.dim() == 1 && lengths.size(0) == x.size(0), "lengths ", lengths.sizes(), " must be (B) for x ",
              x.sizes());
  const auto lengths_cpu = lengths.to(torch::kCPU, torch::kLong).clamp(0, x.size(1)).contiguous();
  const std::vector<int64_t> given(lengths_cpu.data_ptr<int64_t>(), lengths_cpu.data_ptr<int64_t>() + x.size(0));
  // The rows a step runs are one block when the rows are in order of length, as a bucketed
  // batch's are; rows in another order run permuted to descending length.
  if (std::is_sorted(given.begin(), given.end()) || std::is_sorted(given.rbegin(), given.rend()))
    return std::get<0>(fused_lstm(module, x, state, given));
  const auto [sorted_lengths, order] = lengths_cpu.sort(/*stable=*/true, /*dim=*/0, /*descending=*/true);
  const std::vector<int64_t> sorted(sorted_lengths.data_ptr<int64_t>(),
                                    sorted_lengths.data_ptr<int64_t>() + sorted_lengths.numel());
  const auto& [h0, c0] = state;
  auto output = std::get<0>(
      fused_lstm(module, x.index_select(0, order), {h0.index_select(1, order), c0.index_select(1, order)}, sorted));
  return output.index_select(0, torch::argsort(order));
}

}  // namespace zoo::models::nn
