#include "trainers/optim.h"

#include <cmath>

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
            return build_optimizer<torch::optim::AdamW>(params, decay, no_decay, base, o.lr);
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
