#include "trainers/optim.h"

#include <ATen/Parallel.h>

#include <cmath>

#include "core/vectorize.h"

namespace zoo::trainers {
namespace {

struct AdamWOptions : Options<AdamWOptions> {
  double lr = 1e-3;
  double weight_decay = 0.1;
  std::array<double, 2> betas{0.9, 0.95};
  double eps = 1e-8;

  template <class V>
  void visit(V& v) {
    v("lr", lr, "peak learning rate", positive());
    v("weight_decay", weight_decay, "decoupled decay on weight matrices (not biases, norms, embeddings)", non_negative());
    v("betas", betas, "Adam moment coefficients", between(0, 0.999999));
    v("eps", eps, "denominator term", positive());
  }
};

struct SGDOptions : Options<SGDOptions> {
  double lr = 0.1;
  double momentum = 0.9;
  double weight_decay = 0.0;
  bool nesterov = false;

  template <class V>
  void visit(V& v) {
    v("lr", lr, "peak learning rate", positive());
    v("momentum", momentum, "momentum factor", between(0, 1));
    v("weight_decay", weight_decay, "L2 penalty on weight matrices", non_negative());
    v("nesterov", nesterov, "Nesterov momentum");
  }
};

struct WarmupOptions {
  int64_t warmup_steps = 0;
  double min_lr = 0.0;
};

struct CosineOptions : Options<CosineOptions>, WarmupOptions {
  template <class V>
  void visit(V& v) {
    v("warmup_steps", warmup_steps, "linear warmup from 0 to the peak lr", non_negative());
    v("min_lr", min_lr, "lr at the last step", non_negative());
  }
};

struct LinearOptions : Options<LinearOptions>, WarmupOptions {
  template <class V>
  void visit(V& v) {
    v("warmup_steps", warmup_steps, "linear warmup from 0 to the peak lr", non_negative());
    v("min_lr", min_lr, "lr at the last step", non_negative());
  }
};

struct ConstantOptions : Options<ConstantOptions>, WarmupOptions {
  template <class V>
  void visit(V& v) {
    v("warmup_steps", warmup_steps, "linear warmup from 0 to the peak lr", non_negative());
  }
};

// Warmup, then `decay(progress in [0,1])` scaling between min_lr and the peak.
Schedule warmup_then(const WarmupOptions& o, std::function<double(double)> decay) {
  return [o, decay](int64_t step, int64_t total, double base) {
    if (step < o.warmup_steps) return base * static_cast<double>(step + 1) / static_cast<double>(o.warmup_steps + 1);
    double span = std::max<double>(1.0, static_cast<double>(total - o.warmup_steps));
    double progress = std::min(1.0, static_cast<double>(step - o.warmup_steps) / span);
    return o.min_lr + (base - o.min_lr) * decay(progress);
  };
}

// The optimizer's parameter groups and the lr scale of each, in the same order.
std::pair<std::vector<torch::optim::OptimizerParamGroup>, std::vector<double>> groups(
    const ParameterGroups& params, const torch::optim::OptimizerOptions& decay,
    const torch::optim::OptimizerOptions& no_decay) {
  std::vector<torch::optim::OptimizerParamGroup> out;
  std::vector<double> scales;
  auto add = [&](const std::vector<torch::Tensor>& tensors, const torch::optim::OptimizerOptions& options,
                 double scale) {
    if (tensors.empty()) return;
    out.emplace_back(tensors, options.clone());
    scales.push_back(scale);
  };
  add(params.decay, decay, 1.0);
  add(params.no_decay, no_decay, 1.0);
  add(params.scaled_decay, decay, params.lr_scale);
  add(params.scaled_no_decay, no_decay, params.lr_scale);
  return {std::move(out), std::move(scales)};
}

// One AdamW step's constants, for adamw_update.
struct AdamWStep {
  float beta1, beta2, one_minus_beta1, one_minus_beta2, decay, step_size, sqrt_correction2, eps;
};

// Elements [begin, end) of one parameter: decoupled weight decay, then the Adam step, as
// torch::optim::AdamW computes them.
ZOO_VECTOR_CLONES
void adamw_update(int64_t begin, int64_t end, float* w, const float* g, float* m, float* v, AdamWStep c) {
#pragma GCC ivdep
  for (int64_t i = begin; i < end; ++i) {
    m[i] = m[i] * c.beta1 + c.one_minus_beta1 * g[i];
    v[i] = v[i] * c.beta2 + c.one_minus_beta2 * g[i] * g[i];
    w[i] = w[i] * c.decay - c.step_size * m[i] / (std::sqrt(v[i]) / c.sqrt_correction2 + c.eps);
  }
}

// torch::optim::AdamW's update, the same state (so its checkpoints load either way), in one pass
// over each parameter instead of libtorch's ten element-wise kernels and the temporary they
// allocate: on the CPU the update is bound by memory traffic, each array read and written once.
// Anything but dense contiguous float CPU parameters without amsgrad takes libtorch's own step.
class FusedAdamW final : public torch::optim::AdamW {
 public:
  using torch::optim::AdamW::AdamW;

  torch::Tensor step(LossClosure closure = nullptr) override {
    if (!fusable()) return torch::optim::AdamW::step(std::move(closure));
    torch::NoGradGuard no_grad;
    torch::Tensor loss;
    if (closure) {
      torch::AutoGradMode enable_grad(true);
      loss = closure();
    }
    for (auto& group : param_groups_) {
      const auto& options = static_cast<const torch::optim::AdamWOptions&>(group.options());
      for (auto& p : group.params())
        if (p.grad().defined()) update(p, options);
    }
    return loss;
  }

 private:
  bool fusable() const {
    for (const auto& group : param_groups_) {
      if (static_cast<const torch::optim::AdamWOptions&>(group.options()).amsgrad()) return false;
      for (const auto& p : group.params()) {
        const auto& grad = p.grad();
        if (!p.device().is_cpu() || p.scalar_type() != torch::kFloat || !p.is_contiguous() ||
            (grad.defined() && (grad.is_sparse() || !grad.is_contiguous())))
          return false;
      }
    }
    return true;
  }

  void update(torch::Tensor& p, const torch::optim::AdamWOptions& options) {
    const auto key = c10::guts::to_string(p.unsafeGetTensorImpl());
    auto found = state_.find(key);
    if (found == state_.end()) {
      auto fresh = std::make_unique<torch::optim::AdamWParamState>();
      fresh->step(0);
      fresh->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
      fresh->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
      found = state_.emplace(key, std::move(fresh)).first;
    }
    auto& state = static_cast<torch::optim::AdamWParamState&>(*found->second);
    state.step(state.step() + 1);
    const double beta1 = std::get<0>(options.betas()), beta2 = std::get<1>(options.betas());
    const double correction1 = 1 - std::pow(beta1, static_cast<double>(state.step()));
    const double correction2 = 1 - std::pow(beta2, static_cast<double>(state.step()));
    const auto decay = static_cast<float>(1 - options.lr() * options.weight_decay());
    const auto b1 = static_cast<float>(beta1), b2 = static_cast<float>(beta2);
    const auto one_minus_b1 = static_cast<float>(1 - beta1), one_minus_b2 = static_cast<float>(1 - beta2);
    const auto sqrt_correction2 = static_cast<float>(std::sqrt(correction2));
    const auto eps = static_cast<float>(options.eps()), step_size = static_cast<float>(options.lr() / correction1);
    float* w = p.data_ptr<float>();
    const float* g = p.grad().data_ptr<float>();
    float* m = state.exp_avg().data_ptr<float>();
    float* v = state.exp_avg_sq().data_ptr<float>();
    const AdamWStep constants{b1, b2, one_minus_b1, one_minus_b2, decay, step_size, sqrt_correction2, eps};
    at::parallel_for(0, p.numel(), 1 << 14,
                     [&](int64_t begin, int64_t end) { adamw_update(begin, end, w, g, m, v, constants); });
  }
};

template <class Optimizer, class Options>
BuiltOptimizer build_optimizer(const ParameterGroups& params, const Options& decay, const Options& no_decay,
                               const Options& base, double lr) {
  auto [param_groups, scales] = groups(params, decay, no_decay);
  BuiltOptimizer built{std::make_unique<Optimizer>(std::move(param_groups), base), lr, std::move(scales)};
  set_learning_rate(*built.optimizer, lr, built.lr_scales);
  return built;
}

}  // namespace

Factory<BuiltOptimizer, const ParameterGroups&>& optimizers() {
  static Factory<BuiltOptimizer, const ParameterGroups&> factory("optimizer");
  return factory;
}

Factory<Schedule>& schedules() {
  static Factory<Schedule> factory("scheduler");
  return factory;
}

void set_learning_rate(torch::optim::Optimizer& optimizer, double lr, const std::vector<double>& lr_scales) {
  auto& param_groups = optimizer.param_groups();
  for (size_t i = 0; i < param_groups.size(); ++i)
    param_groups[i].options().set_lr(lr * (i < lr_scales.size() ? lr_scales[i] : 1.0));
}

torch::Tensor gradient_norm(const std::vector<torch::Tensor>& parameters) {
  std::vector<torch::Tensor> norms;
  for (const auto& p : parameters)
    if (p.grad().defined()) norms.push_back(p.grad().norm());
  if (norms.empty()) return torch::zeros({});
  return torch::stack(norms).norm();
}

torch::Tensor clip_grad_norm(const std::vector<torch::Tensor>& parameters, double max_norm) {
  torch::Tensor total = gradient_norm(parameters);
  torch::Tensor scale = (max_norm / (total + 1e-6)).clamp_max(1.0);
  for (const auto& p : parameters)
    if (p.grad().defined()) p.grad().mul_(scale);
  return total;
}

void register_optimizers() {
  optimizers().add<AdamWOptions>(
      "adamw", "Adam with decoupled weight decay (Loshchilov & Hutter)",
      std::function<BuiltOptimizer(const AdamWOptions&, const ParameterGroups&)>(
          [](const AdamWOptions& o, const ParameterGroups& params) {
            auto base = torch::optim::AdamWOptions(o.lr).betas({o.betas[0], o.betas[1]}).eps(o.eps);
            auto decay = base;
            decay.weight_decay(o.weight_decay);
            auto no_decay = base;
            no_decay.weight_decay(0.0);
            return build_optimizer<FusedAdamW>(params, decay, no_decay, base, o.lr);
          }));
  optimizers().add<SGDOptions>(
      "sgd", "stochastic gradient descent with momentum",
      std::function<BuiltOptimizer(const SGDOptions&, const ParameterGroups&)>(
          [](const SGDOptions& o, const ParameterGroups& params) {
            auto base = torch::optim::SGDOptions(o.lr).momentum(o.momentum).nesterov(o.nesterov);
            auto decay = base;
            decay.weight_decay(o.weight_decay);
            auto no_decay = base;
            no_decay.weight_decay(0.0);
            return build_optimizer<torch::optim::SGD>(params, decay, no_decay, base, o.lr);
          }));

  schedules().add<CosineOptions>("cosine", "warmup, then cosine decay to min_lr",
                                 std::function<Schedule(const CosineOptions&)>([](const CosineOptions& o) {
                                   return warmup_then(o, [](double p) { return 0.5 * (1.0 + std::cos(M_PI * p)); });
                                 }));
  schedules().add<LinearOptions>("linear", "warmup, then linear decay to min_lr",
                                 std::function<Schedule(const LinearOptions&)>([](const LinearOptions& o) {
                                   return warmup_then(o, [](double p) { return 1.0 - p; });
                                 }));
  schedules().add<ConstantOptions>("constant", "warmup, then the peak lr throughout",
                                   std::function<Schedule(const ConstantOptions&)>([](const ConstantOptions& o) {
                                     return warmup_then(o, [](double) { return 1.0; });
                                   }));
}

}  // namespace zoo::trainers
