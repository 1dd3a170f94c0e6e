// Mixture-of-Experts feed-forward (Shazeer et al. 2017; Switch Transformer, Fedus et al. 2021;
// Mixtral): E experts, each the model's own feed-forward module, and a linear router that sends
// every token to its top-k experts. The layer replaces the feed-forward of every n-th block.
#pragma once

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "core/options.h"
#include "models/nn/feed_forward.h"
#include "models/nn/lora.h"

namespace zoo::models::nn {

// The recipe's `model.moe: {num_experts, top_k, every, ...}`; num_experts 0 = a dense model.
struct MoEOptions : zoo::Options<MoEOptions> {
  int64_t num_experts = 0;
  int64_t top_k = 2;
  int64_t every = 2;
  int64_t hidden = 0;
  std::string gate = "top_k_softmax";
  double capacity_factor = 0.0;
  double router_noise = 0.0;
  double aux_loss_weight = 0.01;
  double z_loss_weight = 0.001;

  template <class V>
  void visit(V& v) {
    v("num_experts", num_experts, "experts per MoE layer; 0 = no MoE (dense feed-forward everywhere)", non_negative());
    v("top_k", top_k, "experts each token is sent to", positive());
    v("every", every, "an MoE layer replaces the feed-forward of every n-th block (the n-th, 2n-th, ...)", positive());
    v("hidden", hidden, "each expert's hidden width; 0 = the dense feed-forward's (4 * d_model, or SwiGLU's). For "
      "the active parameters of a dense model, divide that by top_k", non_negative());
    v("gate", gate, "the weights of the chosen experts: top_k_softmax = softmax over their router logits "
      "(Mixtral; with top_k 1 the weight is 1 and the router learns from aux_loss only), softmax = their "
      "probabilities under the softmax over all experts (Switch)", one_of({"top_k_softmax", "softmax"}));
    v("capacity_factor", capacity_factor, "training batches give each expert at most capacity_factor * tokens * "
      "top_k / num_experts tokens, in token order; the rest of its tokens pass through the residual alone. "
      "0 = no limit. Evaluation and generation never drop tokens", non_negative());
    v("router_noise", router_noise, "standard deviation of Gaussian noise on the router logits while training",
      non_negative());
    v("aux_loss_weight", aux_loss_weight, "weight of the load-balancing loss num_experts * sum_i fraction_i * "
      "mean_prob_i (1 when balanced), added by the trainer", non_negative());
    v("z_loss_weight", z_loss_weight, "weight of the router z-loss mean(logsumexp(logits)^2)", non_negative());
  }

  bool enabled() const { return num_experts > 0; }
  // Whether block `layer` (0-based) holds an MoE layer: blocks every-1, 2*every-1, ...
  bool replaces(int64_t layer) const { return enabled() && (layer + 1) % every == 0; }
  // Checks between fields; throws zoo::UserError("model.moe: ...").
  void validate(int64_t n_layer) const;
};

// (B, T, C) -> (B, T, C). Tokens are grouped by expert with one sort, so each expert runs once
// on exactly the tokens routed to it: the work grows with top_k, not with num_experts.
// Parameter names: router, experts.<e>.{c_fc, c_gate (swiglu), c_proj}.
class MoEImpl : public FeedForwardImpl {
 public:
  // kind, d_model, bias, dropout: those of the dense feed-forward each expert copies;
  // dense_hidden its width (0 = the kind's default, see make_feed_forward).
  MoEImpl(const MoEOptions& options, const std::string& kind, int64_t d_model, int64_t dense_hidden, bool bias,
          double dropout);
  torch::Tensor forward(const torch::Tensor& x) override;

  // The last training forward's router losses, unweighted (undefined before one): the balancing
  // loss and the z-loss; and the fraction of its token assignments the capacity dropped.
  torch::Tensor balance_loss, z_loss, dropped_fraction;

  // Routing statistics over the forwards since start_stats(), for evaluation.
  void start_stats();
  void stop_stats() { collecting_ = false; }
  // {"fraction": [per expert, of all assignments], "entropy": mean router entropy in nats,
  //  "max_share": the busiest expert's fraction * num_experts (1 = fair), "tokens": N}.
  nlohmann::json stats() const;

  const MoEOptions& options() const { return options_; }
  LoRALinear router{nullptr};
  torch::nn::ModuleList experts;

 private:
  // Each assignment i of `assigned_expert` (M) sends row i / top_k of x (N, C) to that expert
  // with gate weight[i]; per_expert (E) counts the assignments. Returns the weighted sums (N, C).
  torch::Tensor dispatch_sorted(const torch::Tensor& x, const torch::Tensor& assigned_expert,
                                const torch::Tensor& per_expert, const torch::Tensor& weight);
  // The same through a per-expert nonzero, whose sizes the TorchScript tracer records as
  // dynamic (the sorted path reads the group sizes on the host, which a trace would freeze).
  torch::Tensor dispatch_traced(const torch::Tensor& x, const torch::Tensor& assigned_expert,
                                const torch::Tensor& weight);

  MoEOptions options_;
  std::vector<FeedForward> experts_;  // the same modules as `experts`, typed
  bool collecting_ = false;
  torch::Tensor assigned_, entropy_sum_;  // (E) assignments, () summed entropy
  int64_t stats_tokens_ = 0;
};
TORCH_MODULE(MoE);

// The MoE layers of `model`, with their qualified names.
std::vector<std::pair<std::string, MoEImpl*>> moe_layers(torch::nn::Module& model);

// The sum over MoE layers of their weighted router losses from the last training forward, and
// the unweighted means for logging; all undefined when the model has no MoE layer.
struct RouterLosses {
  torch::Tensor total;    // aux_loss_weight * balance + z_loss_weight * z, summed over layers
  torch::Tensor balance;  // mean over layers
  torch::Tensor z;        // mean over layers
  torch::Tensor dropped;  // mean over layers (capacity_factor > 0 only)
};
RouterLosses router_losses(torch::nn::Module& model);

// Collects routing statistics of every MoE layer of a model while it lives.
class MoEStatsScope {
 public:
  explicit MoEStatsScope(torch::nn::Module& model);
  ~MoEStatsScope();
  MoEStatsScope(const MoEStatsScope&) = delete;
  MoEStatsScope& operator=(const MoEStatsScope&) = delete;
  bool empty() const { return layers_.empty(); }
  // {"layers": {name: MoEImpl::stats()}, "max_share": the most over layers, "entropy": the mean
  //  over layers, "max_entropy": log num_experts}.
  nlohmann::json report() const;

 private:
  std::vector<std::pair<std::string, MoEImpl*>> layers_;
};

}  // namespace zoo::models::nn
