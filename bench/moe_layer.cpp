// Times one MoE layer's forward + backward at a fixed number of tokens while the experts and
// top_k vary, beside the dense feed-forward of the same active width, all in one run (the
// configurations interleave round by round, so machine noise hits them alike). The claims:
// the cost grows with top_k, and from 4 to 16 experts at fixed top_k by no more than 1.3x.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <map>

#include "core/runtime.h"
#include "models/nn/feed_forward.h"
#include "models/nn/moe.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace nn = zoo::models::nn;

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

struct Layer {
  std::string name;
  int64_t experts = 0, top_k = 0;  // experts 0: the dense feed-forward
  std::shared_ptr<nn::FeedForwardImpl> module;
  std::vector<double> seconds;
};

}  // namespace

int main(int argc, char** argv) {
  zoo::prepare_process(argv);
  CLI::App app{"MoE layer forward+backward time against num_experts and top_k"};
  int64_t tokens = 4096, d_model = 256, hidden = 512;
  int rounds = 7, threads = 0;
  std::vector<int64_t> expert_counts{4, 8, 16}, top_ks{1, 2};
  bool json = false;
  app.add_option("--tokens", tokens, "tokens per batch")->capture_default_str();
  app.add_option("--d-model", d_model, "model width")->capture_default_str();
  app.add_option("--hidden", hidden, "each expert's hidden width")->capture_default_str();
  app.add_option("--experts", expert_counts, "expert counts")->capture_default_str();
  app.add_option("--top-k", top_ks, "top_k values")->capture_default_str();
  app.add_option("--rounds", rounds, "timed rounds (the median is reported)")->capture_default_str();
  app.add_option("--threads", threads, "intra-op threads; 0 = the cores")->capture_default_str();
  app.add_flag("--json", json, "print one JSON object");
  CLI11_PARSE(app, argc, argv);
  threads = zoo::configure_threads(threads);

  torch::manual_seed(0);
  std::vector<Layer> layers;
  for (int64_t k : top_ks) {
    // The dense layer with the active width of top_k experts: the same FLOPs per token.
    layers.push_back({fmt::format("dense hidden {}", k * hidden), 0, k,
                      nn::make_feed_forward("gelu", d_model, true, 0.0, k * hidden), {}});
    for (int64_t e : expert_counts) {
      nn::MoEOptions o;
      o.num_experts = e, o.top_k = k, o.hidden = hidden;
      layers.push_back({fmt::format("moe {} experts top {}", e, k), e, k,
                        std::make_shared<nn::MoEImpl>(o, "gelu", d_model, 0, true, 0.0), {}});
    }
  }
  auto x = torch::randn({tokens, d_model}).requires_grad_(true);
  auto grad = torch::randn({tokens, d_model});
  auto step = [&](Layer& layer) {
    auto start = Clock::now();
    layer.module->forward(x).backward(grad);
    return std::chrono::duration<double>(Clock::now() - start).count();
  };
  for (auto& layer : layers) step(layer);  // warm up allocator and kernels
  for (int r = 0; r < rounds; ++r)
    for (auto& layer : layers) layer.seconds.push_back(step(layer));

  std::map<std::pair<int64_t, int64_t>, double> ms;  // (experts, top_k) -> median ms
  for (auto& layer : layers) ms[{layer.experts, layer.top_k}] = 1e3 * median(layer.seconds);
  const int64_t fewest = expert_counts.front(), most = expert_counts.back();
  nlohmann::json report{{"tokens", tokens}, {"d_model", d_model}, {"hidden", hidden}, {"threads", threads},
                        {"rounds", rounds}, {"ms", nlohmann::json::object()}};
  for (auto& layer : layers) report["ms"][layer.name] = ms[{layer.experts, layer.top_k}];
  for (int64_t k : top_ks)
    report[fmt::format("ratio_{}_to_{}_experts_top{}", most, fewest, k)] = ms[{most, k}] / ms[{fewest, k}];
  if (top_ks.size() > 1)
    for (int64_t e : expert_counts)
      report[fmt::format("ratio_top{}_to_top{}_{}_experts", top_ks.back(), top_ks.front(), e)] =
          ms[{e, top_ks.back()}] / ms[{e, top_ks.front()}];
  if (json) {
    fmt::print("{}\n", report.dump());
    return 0;
  }
  fmt::print("MoE layer forward+backward, {} tokens x d_model {}, expert hidden {}, {} thread(s), median of {}\n",
             tokens, d_model, hidden, threads, rounds);
  for (auto& layer : layers) fmt::print("  {:<26} {:8.2f} ms\n", layer.name, ms[{layer.experts, layer.top_k}]);
  for (const auto& [key, value] : report.items())
    if (key.rfind("ratio_", 0) == 0) fmt::print("  {:<34} {:.3f}x\n", key, value.get<double>());
  return 0;
}
