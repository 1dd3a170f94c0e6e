// Times token-by-token generation on the KV cache against recomputing the whole prefix for
// every token, on the quickstart GPT (4 layers, 4 heads, width 128; context raised so 256 new
// tokens fit). Reports per-token time by position and the total speed-up, both measured in
// this run side by side; greedy ids of the two paths must agree.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "cli/register_all.h"
#include "core/recipe.h"
#include "core/runtime.h"
#include "generation/generate.h"
#include "models/model.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

struct Timings {
  std::vector<int64_t> ids;      // generated greedily
  std::vector<double> per_token;  // seconds for the step that produced token i
  double total = 0;
};

// Greedy continuation of `prompt` by `steps` tokens through the generation library, one cached
// forward per token. A token's time runs from the previous token's arrival to its own.
Timings generate_cached(zoo::models::LanguageModelImpl& model, const std::vector<int64_t>& prompt, int64_t steps) {
  Timings t;
  zoo::generation::Request request;
  request.prompts = {prompt};
  request.options.strategy = "greedy";
  request.options.max_new_tokens = steps;
  auto last = Clock::now();
  const auto start = last;
  request.on_token = [&](size_t, size_t, int64_t token) {
    t.ids.push_back(token);
    t.per_token.push_back(seconds_since(last));
    last = Clock::now();
  };
  auto decoder = zoo::generation::language_model_decoder(model);
  zoo::generation::generate(*decoder, request);
  t.total = seconds_since(start);
  return t;
}

// The same continuation, running the model over the whole sequence for every new token.
Timings generate_recomputing(zoo::models::LanguageModelImpl& model, const std::vector<int64_t>& prompt, int64_t steps) {
  Timings t;
  const auto start = Clock::now();
  std::vector<int64_t> tokens = prompt;
  for (int64_t i = 0; i < steps; ++i) {
    const auto step = Clock::now();
    auto logits = model.forward(torch::tensor(tokens).view({1, -1})).index({0, -1});
    const int64_t next = logits.argmax().item<int64_t>();
    tokens.push_back(next);
    t.ids.push_back(next);
    t.per_token.push_back(seconds_since(step));
  }
  t.total = seconds_since(start);
  return t;
}

// Median per-token time over positions [from, to) of the generated tokens (prompt excluded).
double window(const std::vector<std::vector<double>>& runs, size_t from, size_t to) {
  std::vector<double> values;
  for (const auto& run : runs)
    for (size_t i = from; i < std::min(to, run.size()); ++i) values.push_back(run[i]);
  return median(values);
}

}  // namespace

int main(int argc, char** argv) {
  zoo::prepare_process(argv);
  CLI::App app{"Cached generation against recomputing the prefix, on the quickstart GPT"};
  int64_t new_tokens = 256, repeats = 5, threads = 1, vocab = 86;
  std::string model_yaml = "{type: gpt, n_layer: 4, n_head: 4, d_model: 128, block_size: 512}";
  app.add_option("--new-tokens", new_tokens, "tokens to generate")->capture_default_str();
  app.add_option("--repeats", repeats, "runs of each path (medians reported)")->capture_default_str();
  app.add_option("--threads", threads, "intra-op threads (the quickstart uses 1)")->capture_default_str();
  app.add_option("--model", model_yaml, "the model, as a recipe's model section")->capture_default_str();
  app.add_option("--vocab-size", vocab, "vocabulary (Brown's characters: 86)")->capture_default_str();
  bool json = false;
  app.add_flag("--json", json, "print one JSON line (tokens/s of cached generation) instead of the table");
  CLI11_PARSE(app, argc, argv);

  zoo::register_all();
  zoo::configure_threads(static_cast<int>(threads));
  torch::manual_seed(0);
  auto model = zoo::models::language_models().build(zoo::parse_component("model", model_yaml),
                                                    zoo::models::ModelContext{vocab});
  if (new_tokens + 1 > model->context_length()) {
    fmt::print(stderr, "--new-tokens {} needs a context of at least {}; the model has {}\n", new_tokens,
               new_tokens + 1, model->context_length());
    return 2;
  }
  model->eval();
  c10::InferenceMode inference;
  const std::vector<int64_t> prompt = {1};

  generate_cached(*model, prompt, 16);  // warm up both paths
  generate_recomputing(*model, prompt, 16);
  std::vector<std::vector<double>> cached_steps, full_steps;
  std::vector<double> cached_totals, full_totals;
  bool same_ids = true;
  for (int64_t r = 0; r < repeats; ++r) {
    Timings cached = generate_cached(*model, prompt, new_tokens);
    Timings full = generate_recomputing(*model, prompt, new_tokens);
    same_ids = same_ids && cached.ids == full.ids;
    cached_steps.push_back(cached.per_token);
    full_steps.push_back(full.per_token);
    cached_totals.push_back(cached.total);
    full_totals.push_back(full.total);
  }

  if (json) {
    fmt::print("{{\"side\": \"zoo\", \"case\": \"generate_kv\", \"parameters\": {}, \"tokens_per_s\": {}}}\n",
               model->num_parameters(), static_cast<double>(new_tokens) / median(cached_totals));
    return same_ids ? 0 : 1;
  }
  const auto n = static_cast<size_t>(new_tokens);
  // Position p is the p-th generated token (index p-1); the 9 around it smooth timer noise.
  const auto at = [&](const std::vector<std::vector<double>>& runs, size_t p) {
    const size_t index = std::min(p, n) - 1;
    return window(runs, index >= 4 ? index - 4 : 0, std::min(n, index + 5));
  };
  const size_t early = std::min<size_t>(16, n);
  fmt::print("model {} | {} parameters | vocab {} | {} thread(s) | {} new tokens, median of {} runs\n", model_yaml,
             model->num_parameters(), vocab, threads, new_tokens, repeats);
  fmt::print("{:<28} {:>14} {:>14}\n", "per-token time (ms)", "cached", "recomputing");
  for (size_t p : {early, size_t{64}, size_t{128}, size_t{192}, n})
    if (p <= n && (p == early || p > early))
      fmt::print("{:<28} {:>14.3f} {:>14.3f}\n", fmt::format("  at position {}", p), 1e3 * at(cached_steps, p),
                 1e3 * at(full_steps, p));
  const double late_over_early = at(cached_steps, n) / at(cached_steps, early);
  const double speedup = median(full_totals) / median(cached_totals);
  fmt::print("{:<28} {:>14.3f} {:>14.3f}\n", "total (s)", median(cached_totals), median(full_totals));
  fmt::print("cached: time per token at position {} / at {} = {:.2f}x (goal <= 1.5x)\n", n, early, late_over_early);
  fmt::print("cached generation is {:.1f}x faster than recomputing the prefix (goal >= 5x)\n", speedup);
  fmt::print("greedy ids of the two paths {}\n", same_ids ? "agree" : "DIFFER");
  return same_ids ? 0 : 1;
}
