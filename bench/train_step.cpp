// Times GPT training steps (forward, backward, clip, AdamW) and reports tokens/s and model
// FLOPs utilisation against the sgemm peak measured in the same run on the same threads.
#include <CLI/CLI.hpp>
#include <ATen/autocast_mode.h>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>

#include "cli/register_all.h"
#include "core/cpu_allocator.h"
#include "core/recipe.h"
#include "core/runtime.h"
#include "models/gpt.h"
#include "models/model.h"
#include "trainers/flops.h"
#include "trainers/optim.h"

namespace {

using Clock = std::chrono::steady_clock;

struct BenchConfig {
  std::string name;
  std::string model_yaml;  // a recipe's model section
  int64_t batch_size;
  int64_t block_size;
  int64_t vocab_size;
};

const std::vector<BenchConfig> kConfigs = {
    {"tiny", "{type: gpt, n_layer: 2, n_head: 2, d_model: 64, block_size: 64}", 8, 64, 96},
    // recipes/quickstart.yaml (vocabulary: the Brown corpus's 86 characters)
    {"quickstart", "{type: gpt, n_layer: 4, n_head: 4, d_model: 128, block_size: 64}", 16, 64, 86},
    // recipes/moe_gpt_quickstart.yaml: the same active parameters per token
    {"quickstart_moe",
     "{type: gpt, n_layer: 4, n_head: 4, d_model: 128, block_size: 64, moe: {num_experts: 4, top_k: 2, every: 2, "
     "hidden: 256}}",
     16, 64, 86},
    // nanoGPT's config/train_shakespeare_char.py
    {"shakespeare_char", "{type: gpt, n_layer: 6, n_head: 6, d_model: 384, block_size: 256, dropout: 0.2}", 64, 256, 65},
};

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  zoo::prepare_process(argv);
  CLI::App app{"GPT training-step benchmark: tokens/s and MFU against the measured sgemm peak"};
  int steps = 5, warmup = 2, threads = 0;
  std::vector<std::string> names{"quickstart", "shakespeare_char"};
  app.add_option("--steps", steps, "timed steps per config (median reported)");
  app.add_option("--warmup", warmup, "untimed steps first");
  app.add_option("--threads", threads, "intra-op threads; 0 = every core");
  std::string profile;
  app.add_option("--profile", profile, "write a chrome trace of the timed steps of the last config to this file");
  app.add_option("--configs", names, "configs: tiny, quickstart, quickstart_moe, shakespeare_char")->delimiter(',');
  std::string custom_model;
  int64_t custom_batch = 32, custom_block = 128;
  app.add_option("--model", custom_model, "a recipe model section to time as config 'custom', e.g. '{type: gpt, n_layer: 2}'");
  app.add_option("--batch", custom_batch, "batch size of the custom config");
  app.add_option("--block", custom_block, "block size of the custom config");
  std::string autocast;
  app.add_option("--autocast", autocast, "run forward and loss under CPU autocast to this type (bf16)")
      ->check(CLI::IsMember({"bf16"}));
  bool checkpointing = false;
  app.add_flag("--gradient-checkpointing", checkpointing, "recompute each block's activations in backward");
  CLI11_PARSE(app, argc, argv);
  std::vector<BenchConfig> configs = kConfigs;
  if (!custom_model.empty()) {
    configs.push_back({"custom", custom_model, custom_batch, custom_block, 96});
    names = {"custom"};
  }

  zoo::register_all();
  threads = zoo::configure_threads(threads);
  const char* coretype = std::getenv("OPENBLAS_CORETYPE");
  const char* wait_policy = std::getenv("OMP_WAIT_POLICY");
  const double peak = zoo::trainers::matmul_peak_flops(torch::kCPU);  // what zoo train measures too
  fmt::print("threads {} | OMP_WAIT_POLICY {} | OPENBLAS_CORETYPE {} | matmul peak (1024^3, best of 5) {:.1f} GFLOP/s\n", threads,
             wait_policy ? wait_policy : "(unset)", coretype ? coretype : "(unset)", peak / 1e9);
  fmt::print("{:<18} {:>10} {:>7} {:>11} {:>12} {:>10} {:>7}\n", "config", "params", "batch", "step ms",
             "tokens/s", "GFLOP/s", "MFU");

  for (const auto& name : names) {
    auto config = std::find_if(configs.begin(), configs.end(), [&](const BenchConfig& c) { return c.name == name; });
    if (config == configs.end()) {
      fmt::print(stderr, "unknown config '{}'\n", name);
      return 2;
    }
    torch::manual_seed(0);
    auto model_yaml = config->model_yaml;
    if (checkpointing) model_yaml.insert(model_yaml.rfind('}'), ", gradient_checkpointing: true");
    auto component = zoo::parse_component("model", model_yaml);
    auto model = zoo::models::language_models().build(component, {config->vocab_size});
    model->train();
    zoo::trainers::ParameterGroups groups;
    groups.decay = model->decay_parameters();
    groups.no_decay = model->no_decay_parameters();
    auto optimizer = zoo::trainers::optimizers().build(zoo::parse_component("optimizer", "{type: adamw, lr: 1.0e-3}"), groups);
    auto parameters = model->parameters();

    // FLOPs per token as zoo train counts them (trainers/flops.h: 6N + 12·L·d·T, nanoGPT's estimate_mfu).
    const double flops_per_token = zoo::trainers::training_flops(*model).per_token(config->block_size);
    const auto& gpt = component.as<zoo::models::GPTOptions>();
    const int64_t n_params = model->num_parameters();
    const auto layers = static_cast<double>(gpt.n_layer), width = static_cast<double>(gpt.d_model);

    std::vector<double> times;
    std::unique_ptr<torch::autograd::profiler::RecordProfile> profiler;
    for (int i = 0; i < warmup + steps; ++i) {
      if (i == warmup && !profile.empty()) profiler = std::make_unique<torch::autograd::profiler::RecordProfile>(profile);
      auto ids = torch::randint(config->vocab_size, {config->batch_size, config->block_size + 1}, torch::kInt64);
      auto start = Clock::now();
      for (auto& p : parameters) p.mutable_grad().reset();
      at::autocast::set_cpu_enabled(!autocast.empty());
      at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
      auto logits = model->forward(ids.narrow(1, 0, config->block_size));
      auto loss = torch::nn::functional::cross_entropy(logits.view({-1, logits.size(-1)}).to(torch::kFloat),
                                                        ids.narrow(1, 1, config->block_size).reshape({-1}));
      at::autocast::set_cpu_enabled(false);
      at::autocast::clear_cache();
      loss.backward();
      torch::nn::utils::clip_grad_norm_(parameters, 1.0);
      optimizer.optimizer->step();
      if (i >= warmup) times.push_back(seconds_since(start));
    }
    profiler.reset();
    const double step = median(times);
    const double tokens_per_s = static_cast<double>(config->batch_size * config->block_size) / step;
    const double achieved = flops_per_token * tokens_per_s;
    fmt::print("{:<18} {:>10} {:>7} {:>11.1f} {:>12.0f} {:>10.1f} {:>6.1f}%\n", config->name, n_params,
               config->batch_size, step * 1e3, tokens_per_s, achieved / 1e9, 100.0 * achieved / peak);
    // What a step must hold at its peak, in bytes: weights, gradients and AdamW's two moments
    // (16 per parameter), and the activations backward needs, per block 66·B·T·C + 9·B·H·T·T with
    // 4-byte activations and 1-byte dropout masks (Korthikanti et al. 2022, eq. 1, at fp32),
    // plus the embedding's dropout mask, ln_f's input and output and the logits with their
    // log-softmax outside the blocks. Without dropout the masks and dropped copies go:
    // 64·B·T·C + 4·B·H·T·T per block.
    const double B = static_cast<double>(config->batch_size), T = static_cast<double>(config->block_size);
    const double H = static_cast<double>(gpt.n_head), V = static_cast<double>(config->vocab_size);
    const bool dropout = gpt.dropout > 0;
    const double per_block = (dropout ? 66 : 64) * B * T * width + (dropout ? 9 : 4) * B * H * T * T;
    const double activations = layers * per_block + (dropout ? 9 : 8) * B * T * width + 8 * B * T * V;
    const double expected = 16.0 * static_cast<double>(n_params) + activations;
    const auto memory = zoo::caching_allocator_stats();
    fmt::print("  memory: peak in use {:.0f} MB = {:.2f}x of {:.0f} MB (weights, gradients, AdamW state {:.0f} MB + "
               "activations {:.0f} MB); allocator {} hits, {} misses\n",
               memory.peak_in_use / 1e6, static_cast<double>(memory.peak_in_use) / expected, expected / 1e6,
               16.0 * static_cast<double>(n_params) / 1e6, activations / 1e6, memory.hits, memory.misses);
  }
  return 0;
}
