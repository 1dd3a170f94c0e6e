// Mixture-of-Experts: routing, sorted dispatch, router losses and routing statistics.
#include "models/nn/moe.h"

#include <torch/csrc/jit/frontend/tracer.h>

#include <cmath>

#include "core/error.h"

namespace zoo::models::nn {

void MoEOptions::validate(int64_t n_layer) const {
  if (!enabled()) return;
  auto fail = [](const std::string& what) { throw UserError("model.moe." + what); };
  if (top_k > num_experts)
    fail("top_k: " + std::to_string(top_k) + " experts per token, but num_experts is " + std::to_string(num_experts) +
         " (lower top_k or raise num_experts)");
  if (every > n_layer)
    fail("every: " + std::to_string(every) + " is more than the model's " + std::to_string(n_layer) +
         " blocks, so no block would hold an MoE layer (lower it; 1 = every block)");
}

MoEImpl::MoEImpl(const MoEOptions& options, const std::string& kind, int64_t d_model, int64_t dense_hidden, bool bias,
                 double dropout)
    : options_(options) {
  router = register_module("router", LoRALinear(torch::nn::LinearOptions(d_model, options.num_experts).bias(false)));
  experts = register_module("experts", torch::nn::ModuleList());
  const int64_t hidden = options.hidden > 0 ? options.hidden : dense_hidden;
  for (int64_t e = 0; e < options.num_experts; ++e) {
    experts_.push_back(make_feed_forward(kind, d_model, bias, dropout, hidden));
    experts->push_back(experts_.back());
  }
}

torch::Tensor MoEImpl::forward(const torch::Tensor& x) {
  const int64_t E = options_.num_experts, k = options_.top_k;
  auto flat = x.reshape({-1, x.size(-1)});  // (N, C)
  auto logits = router(flat).to(torch::kFloat32);  // (N, E); softmax and losses in float32
  if (is_training() && options_.router_noise > 0) logits = logits + torch::randn_like(logits) * options_.router_noise;
  auto probs = torch::softmax(logits, -1);
  auto [top_logits, top_experts] = logits.topk(k, -1);  // (N, k)
  auto gate = options_.gate == "softmax" ? probs.gather(1, top_experts) : torch::softmax(top_logits, -1);

  auto assigned = top_experts.reshape({-1});  // (N k): assignment i belongs to token i / k
  const bool tracing = torch::jit::tracer::isTracing();
  const bool losses = is_training() && torch::GradMode::is_enabled();
  // (E) assignments, for the sorted dispatch and the losses; a trace needs neither.
  auto per_expert = tracing && !losses && !collecting_ ? torch::Tensor() : torch::bincount(assigned, {}, E);
  if (losses || collecting_) {
    auto counts = per_expert.to(torch::kFloat32);
    if (is_training()) {
      // Switch Transformer: E * sum_i f_i P_i, f = share of the assignments, P = mean probability.
      balance_loss = static_cast<double>(E) * (counts / counts.sum() * probs.mean(0)).sum();
      z_loss = torch::logsumexp(logits, -1).square().mean();
    }
    if (collecting_) {
      auto entropy = -(probs * torch::log(probs.clamp_min(1e-12))).sum();
      assigned_ = assigned_.defined() ? assigned_ + counts : counts;
      entropy_sum_ = entropy_sum_.defined() ? entropy_sum_ + entropy : entropy;
      stats_tokens_ += flat.size(0);
    }
  }
  auto weight = gate.reshape({-1}).to(x.scalar_type());
  auto out = tracing ? dispatch_traced(flat, assigned, weight) : dispatch_sorted(flat, assigned, per_expert, weight);
  return out.view_as(x);
}

torch::Tensor MoEImpl::dispatch_sorted(const torch::Tensor& x, const torch::Tensor& assigned_expert,
                                       const torch::Tensor& per_expert, const torch::Tensor& weight) {
  const int64_t E = options_.num_experts, k = options_.top_k;
  // A stable sort keeps token order within each expert: capacity keeps the first tokens.
  auto order = std::get<1>(torch::sort(assigned_expert, c10::optional<bool>(true), int64_t{0}, false));  // (M)
  auto counts = per_expert;
  auto token = order.div(k, "floor");
  auto gate = weight.index_select(0, order);

  if (is_training() && options_.capacity_factor > 0) {
    const int64_t capacity = static_cast<int64_t>(
        std::ceil(options_.capacity_factor * static_cast<double>(assigned_expert.size(0)) / static_cast<double>(E)));
    auto sorted_expert = assigned_expert.index_select(0, order);
    auto starts = counts.cumsum(0) - counts;
    auto rank = torch::arange(order.size(0), order.options()) - starts.index_select(0, sorted_expert);
    auto kept = (rank < capacity).nonzero().squeeze(1);
    dropped_fraction = torch::full({}, 1.0 - static_cast<double>(kept.size(0)) / static_cast<double>(order.size(0)));
    token = token.index_select(0, kept);
    gate = gate.index_select(0, kept);
    counts = counts.clamp_max(capacity);
  }

  // One gather, one contiguous group per expert, one scatter-add: each expert's gradient flows
  // through a single split and a single index_add rather than a full-size buffer per expert.
  auto host_counts = counts.to(torch::kCPU);
  std::vector<int64_t> sizes(host_counts.data_ptr<int64_t>(), host_counts.data_ptr<int64_t>() + E);
  auto groups = x.index_select(0, token).split_with_sizes(sizes, 0);
  std::vector<torch::Tensor> outputs;
  outputs.reserve(static_cast<size_t>(E));
  for (int64_t e = 0; e < E; ++e)
    if (sizes[static_cast<size_t>(e)] > 0) outputs.push_back(experts_[static_cast<size_t>(e)]->forward(groups[e]));
  auto y = torch::cat(outputs, 0) * gate.unsqueeze(1);  // (M kept, C)
  return torch::zeros_like(x).index_add(0, token, y);
}

torch::Tensor MoEImpl::dispatch_traced(const torch::Tensor& x, const torch::Tensor& assigned_expert,
                                       const torch::Tensor& weight) {
  // arange(M) / k from the input's shape, so the trace keeps M dynamic.
  auto token = (torch::ones_like(assigned_expert).cumsum(0) - 1).div(options_.top_k, "floor");
  auto out = torch::zeros_like(x);
  for (int64_t e = 0; e < options_.num_experts; ++e) {
    auto mine = (assigned_expert == e).nonzero().squeeze(1);
    auto rows = token.index_select(0, mine);
    auto y = experts_[static_cast<size_t>(e)]->forward(x.index_select(0, rows)) * weight.index_select(0, mine).unsqueeze(1);
    out = out.index_add(0, rows, y);
  }
  return out;
}

void MoEImpl::start_stats() {
  collecting_ = true;
  assigned_ = torch::Tensor();
  entropy_sum_ = torch::Tensor();
  stats_tokens_ = 0;
}

nlohmann::json MoEImpl::stats() const {
  const int64_t E = options_.num_experts;
  std::vector<double> fraction(static_cast<size_t>(E), 0.0);
  double entropy = 0, max_share = 0;
  if (assigned_.defined() && stats_tokens_ > 0) {
    auto counts = assigned_.to(torch::kCPU, torch::kFloat64).contiguous();
    const double* count = counts.data_ptr<double>();
    const double total = counts.sum().item<double>();
    for (int64_t e = 0; e < E; ++e) {
      fraction[static_cast<size_t>(e)] = count[e] / total;
      max_share = std::max(max_share, fraction[static_cast<size_t>(e)] * static_cast<double>(E));
    }
    entropy = entropy_sum_.item<double>() / static_cast<double>(stats_tokens_);
  }
  return {{"fraction", fraction},
          {"entropy", entropy},
          {"max_entropy", std::log(static_cast<double>(E))},
          {"max_share", max_share},
          {"tokens", stats_tokens_}};
}

std::vector<std::pair<std::string, MoEImpl*>> moe_layers(torch::nn::Module& model) {
  std::vector<std::pair<std::string, MoEImpl*>> layers;
  if (auto* moe = dynamic_cast<MoEImpl*>(&model)) layers.emplace_back("", moe);
  for (const auto& item : model.named_modules("", /*include_self=*/false))
    if (auto* moe = dynamic_cast<MoEImpl*>(item.value().get())) layers.emplace_back(item.key(), moe);
  return layers;
}

RouterLosses router_losses(torch::nn::Module& model) {
  RouterLosses losses;
  int64_t layers = 0, capped = 0;
  for (const auto& [name, moe] : moe_layers(model)) {
    if (!moe->balance_loss.defined()) continue;
    const auto& o = moe->options();
    auto weighted = o.aux_loss_weight * moe->balance_loss + o.z_loss_weight * moe->z_loss;
    auto add = [](torch::Tensor& sum, const torch::Tensor& term) { sum = sum.defined() ? sum + term : term; };
    add(losses.total, weighted);
    add(losses.balance, moe->balance_loss.detach());
    add(losses.z, moe->z_loss.detach());
    if (moe->dropped_fraction.defined()) {
      add(losses.dropped, moe->dropped_fraction.to(moe->z_loss.device()));
      ++capped;
    }
    ++layers;
  }
  if (layers > 0) {
    losses.balance = losses.balance / static_cast<double>(layers);
    losses.z = losses.z / static_cast<double>(layers);
  }
  if (capped > 0) losses.dropped = losses.dropped / static_cast<double>(capped);
  return losses;
}

MoEStatsScope::MoEStatsScope(torch::nn::Module& model) : layers_(moe_layers(model)) {
  for (auto& [name, moe] : layers_) moe->start_stats();
}

MoEStatsScope::~MoEStatsScope() {
  for (auto& [name, moe] : layers_) moe->stop_stats();
}

nlohmann::json MoEStatsScope::report() const {
  nlohmann::json report{{"layers", nlohmann::json::object()}};
  double max_share = 0, entropy = 0;
  for (const auto& [name, moe] : layers_) {
    auto stats = moe->stats();
    max_share = std::max(max_share, stats["max_share"].get<double>());
    entropy += stats["entropy"].get<double>();
    report["layers"][name] = std::move(stats);
  }
  report["max_share"] = max_share;
  report["max_entropy"] = layers_.empty() ? 0.0 : std::log(static_cast<double>(layers_[0].second->options().num_experts));
  report["entropy"] = layers_.empty() ? 0.0 : entropy / static_cast<double>(layers_.size());
  return report;
}

}  // namespace zoo::models::nn
