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

std::vector<torch::optim::OptimizerParamGroup> groups(const ParameterGroups& params,
                                                       const torch::optim::OptimizerOptions& decay,
                                                       const torch::optim::OptimizerOptions& no_decay) {
  std::vector<torch::optim::OptimizerParamGroup> out;
  if (!params.decay.empty()) out.emplace_back(params.decay, decay.clone());
  if (!params.no_decay.empty()) out.emplace_back(params.no_decay, no_decay.clone());
  return out;
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

void set_learning_rate(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) group.options().set_lr(lr);
}

torch::Tensor clip_grad_norm(const std::vector<torch::Tensor>& parameters, double max_norm) {
  std::vector<torch::Tensor> norms;
  for (const auto& p : parameters)
    if (p.grad().defined()) norms.push_back(p.grad().norm());
  if (norms.empty()) return torch::zeros({});
  torch::Tensor total = torch::stack(norms).norm();
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
            return BuiltOptimizer{std::make_unique<torch::optim::AdamW>(groups(params, decay, no_decay), base), o.lr};
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
            return BuiltOptimizer{std::make_unique<torch::optim::SGD>(groups(params, decay, no_decay), base), o.lr};
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
