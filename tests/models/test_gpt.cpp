// GPT tests: logits against an independent Python PyTorch GPT on the same weights, cached
// decoding against the full forward, shapes, padding, initialisation, parameter counting.
#include <gtest/gtest.h>
#include <torch/csrc/jit/frontend/tracer.h>
#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <unordered_set>

#include "core/config.h"
#include "core/error.h"
#include "models/gpt.h"
#include "models/model.h"

namespace fs = std::filesystem;
using zoo::models::GPTImpl;
using zoo::models::GPTOptions;

namespace {

constexpr int64_t kVocab = 50;

// The quickstart shape, shrunk: learned positions, LayerNorm, GELU, tied weights.
GPTOptions small_gpt() {
  GPTOptions o;
  o.block_size = 32;
  o.n_layer = 2;
  o.n_head = 4;
  o.d_model = 64;
  return o;
}

// Every Llama-style switch at once: RMSNorm, SwiGLU, rotary, 2 K/V heads for 4 query heads.
GPTOptions llama_style_gpt() {
  GPTOptions o = small_gpt();
  o.norm = "rmsnorm";
  o.mlp = "swiglu";
  o.pos = "rotary";
  o.n_kv_head = 2;
  o.bias = false;
  o.tie_weights = false;
  return o;
}

// Weights at GPT-2 init are so small (std 0.02) that logits hardly depend on the nonlinearities;
// numeric tests use O(1) activations so that a wrong GELU or rotation shows up.
void scale_up_weights(GPTImpl& model) {
  torch::NoGradGuard no_grad;
  for (auto& item : model.named_parameters()) {
    auto& p = item.value();
    if (p.dim() >= 2)
      p.normal_(0.0, 1.0 / std::sqrt(static_cast<double>(p.size(1))));
    else if (item.key().find("bias") != std::string::npos)
      p.normal_(0.0, 0.2);
    else
      p.normal_(1.0, 0.2);
  }
}

// In eval mode; with `gpt2_init` false, weights rescaled by scale_up_weights.
std::shared_ptr<GPTImpl> build(const GPTOptions& o, bool gpt2_init = false, uint64_t seed = 0) {
  torch::manual_seed(seed);
  auto model = std::make_shared<GPTImpl>(o, kVocab);
  if (!gpt2_init) scale_up_weights(*model);
  model->eval();
  return model;
}

torch::Tensor random_ids(int64_t batch, int64_t length, uint64_t seed = 1) {
  torch::manual_seed(seed);
  return torch::randint(kVocab, {batch, length}, torch::kLong);
}

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  return (a - b).abs().max().item<double>();
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Saves weights, ids (and mask) and the C++ logits, runs tests/python/gpt_reference.py on them
// and returns its max abs difference over real positions (NaN if the script failed).
double python_reference_diff(GPTImpl& model, const torch::Tensor& ids, const torch::Tensor& mask = {}) {
  static int run = 0;
  fs::path dir = fs::temp_directory_path() / ("zoo_gpt_reference_" + std::to_string(getpid()) + "_" + std::to_string(run++));
  fs::remove_all(dir);
  fs::create_directories(dir);

  torch::NoGradGuard no_grad;
  auto logits = mask.defined() ? model.forward_masked(ids, mask) : model.forward(ids);
  c10::Dict<std::string, at::Tensor> tensors;
  for (const auto& item : model.named_parameters()) tensors.insert("model." + item.key(), item.value().detach().clone());
  tensors.insert("ids", ids);
  tensors.insert("logits", logits);
  if (mask.defined()) tensors.insert("mask", mask);
  auto bytes = torch::pickle_save(c10::IValue(tensors));
  std::ofstream(dir / "tensors.pt", std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));

  const auto& o = model.options();
  nlohmann::json config = {{"vocab_size", model.vocab_size()}, {"block_size", o.block_size}, {"n_layer", o.n_layer},
                           {"n_head", o.n_head},   {"n_kv_head", o.n_kv_head},   {"d_model", o.d_model},
                           {"bias", o.bias},       {"tie_weights", o.tie_weights}, {"norm", o.norm},
                           {"mlp", o.mlp},         {"pos", o.pos}};
  std::ofstream(dir / "config.json") << config.dump();

  std::string command = std::string(ZOO_PYTHON) + " " + ZOO_SOURCE_DIR + "/tests/python/gpt_reference.py " +
                        dir.string() + " > " + (dir / "log.txt").string() + " 2>&1";
  int rc = std::system(command.c_str());
  EXPECT_EQ(rc, 0) << read_text(dir / "log.txt");
  if (rc != 0 || !fs::exists(dir / "diff.txt")) return std::nan("");
  double diff = std::stod(read_text(dir / "diff.txt"));
  std::cout << "[ reference ] " << o.pos << "/" << o.norm << "/" << o.mlp << " n_kv_head=" << o.n_kv_head
            << (mask.defined() ? " masked" : "") << ": max abs diff " << diff << "\n";
  fs::remove_all(dir);
  return diff;
}

// Logits of ids fed through forward_cached in `chunks`, against one full forward.
double cached_vs_full(GPTImpl& model, const torch::Tensor& ids, const std::vector<int64_t>& chunks) {
  torch::NoGradGuard no_grad;
  auto full = model.forward(ids);
  auto cache = model.make_cache(ids.size(0));
  std::vector<torch::Tensor> parts;
  int64_t at = 0;
  for (int64_t n : chunks) {
    parts.push_back(model.forward_cached(ids.narrow(1, at, n), cache));
    at += n;
    EXPECT_EQ(cache.length(), at);
  }
  EXPECT_EQ(at, ids.size(1));
  return max_abs_diff(torch::cat(parts, 1), full);
}

// A prompt of `prompt` tokens, then one token at a time up to `length`.
std::vector<int64_t> prompt_then_single(int64_t prompt, int64_t length) {
  std::vector<int64_t> chunks{prompt};
  for (int64_t i = prompt; i < length; ++i) chunks.push_back(1);
  return chunks;
}

}  // namespace

TEST(GPTReference, QuickstartConfigMatchesPython) {
  auto model = build(small_gpt());
  EXPECT_LE(python_reference_diff(*model, random_ids(3, 32)), 1e-5);
}

TEST(GPTReference, LlamaStyleConfigMatchesPython) {
  auto model = build(llama_style_gpt());
  EXPECT_LE(python_reference_diff(*model, random_ids(2, 20)), 1e-5);
}

TEST(GPTReference, SinusoidalWithoutBiasMatchesPython) {
  auto o = small_gpt();
  o.pos = "sinusoidal";
  o.bias = false;
  auto model = build(o);
  EXPECT_LE(python_reference_diff(*model, random_ids(2, 24)), 1e-5);
}

TEST(GPTReference, PaddedBatchMatchesPython) {
  for (const auto& o : {small_gpt(), llama_style_gpt()}) {
    auto model = build(o);
    auto ids = random_ids(3, 16);
    auto mask = torch::ones({3, 16}, torch::kLong);
    mask.index_put_({0, torch::indexing::Slice(0, 5)}, 0);    // left padding
    mask.index_put_({1, torch::indexing::Slice(12, 16)}, 0);  // right padding
    EXPECT_LE(python_reference_diff(*model, ids, mask), 1e-5);
  }
}

TEST(GPTCache, CachedDecodingMatchesFullForward) {
  for (const auto& o : {small_gpt(), llama_style_gpt()}) {
    auto model = build(o);
    for (int64_t batch : {1, 3}) {
      auto ids = random_ids(batch, o.block_size);
      double single = cached_vs_full(*model, ids, prompt_then_single(5, o.block_size));
      double chunked = cached_vs_full(*model, ids, {4, 7, 1, 9, 11});
      std::cout << "[ cache ] " << o.pos << " batch " << batch << ": one token at a time " << single
                << ", chunks " << chunked << "\n";
      EXPECT_LE(single, 1e-5);
      EXPECT_LE(chunked, 1e-5);
    }
  }
}

TEST(GPTCache, ResetAndReorderFollowTheSequences) {
  auto model = build(llama_style_gpt());
  torch::NoGradGuard no_grad;
  auto ids = random_ids(3, 12);
  auto cache = model->make_cache(3);
  model->forward_cached(ids.narrow(1, 0, 10), cache);
  // Beam search keeps rows 2, 0, 0: the next step must see those rows' histories.
  auto index = torch::tensor({2, 0, 0}, torch::kLong);
  cache.reorder(index);
  auto step = model->forward_cached(ids.index_select(0, index).narrow(1, 10, 2), cache);
  auto full = model->forward(ids.index_select(0, index)).narrow(1, 10, 2);
  EXPECT_LE(max_abs_diff(step, full), 1e-5);

  cache.reset();
  EXPECT_EQ(cache.length(), 0);
  auto again = model->forward_cached(ids, cache);
  EXPECT_LE(max_abs_diff(again, model->forward(ids)), 1e-5);
}

TEST(GPTCache, OverflowIsAUserError) {
  auto model = build(small_gpt());
  torch::NoGradGuard no_grad;
  auto cache = model->make_cache(1);
  model->forward_cached(random_ids(1, 30), cache);
  EXPECT_THROW(model->forward_cached(random_ids(1, 3), cache), zoo::UserError);
  EXPECT_EQ(cache.length(), 30);
  EXPECT_THROW(model->forward(random_ids(1, 33)), zoo::UserError);
}

TEST(GPTShapes, AnyBatchAndLengthGivesTheSameLogitsPerSequence) {
  for (const auto& o : {small_gpt(), llama_style_gpt()}) {
    auto model = build(o);
    torch::NoGradGuard no_grad;
    auto longest = random_ids(7, o.block_size);
    auto reference = model->forward(longest);  // (7, block, V)
    for (int64_t batch : {1, 3, 7}) {
      for (int64_t length : {int64_t{1}, int64_t{17}, o.block_size}) {
        auto ids = longest.narrow(0, 0, batch).narrow(1, 0, length);
        auto logits = model->forward(ids);
        ASSERT_EQ(logits.sizes(), (std::vector<int64_t>{batch, length, kVocab}));
        // A prefix of a sequence, in any batch, gets the logits it gets inside the longer batch.
        EXPECT_LE(max_abs_diff(logits, reference.narrow(0, 0, batch).narrow(1, 0, length)), 1e-5)
            << o.pos << " batch " << batch << " length " << length;
      }
    }
  }
}

// The export path traces forward once; sizes read as C++ integers would be frozen into the
// graph. Traced at (2, 8), the graph must still be right at other batch sizes and lengths.
TEST(GPTExport, TracedForwardRunsAtOtherShapes) {
  for (const auto& o : {small_gpt(), llama_style_gpt()}) {
    auto model = build(o);
    for (auto& p : model->parameters()) p.set_requires_grad(false);  // traced in as constants
    auto traced = torch::jit::tracer::trace(
        {random_ids(2, 8)}, [&](torch::jit::Stack in) -> torch::jit::Stack { return {model->forward(in[0].toTensor())}; },
        [](const torch::autograd::Variable&) { return std::string(); });
    torch::jit::GraphExecutor executor(traced.first->graph, "forward");
    for (auto [batch, length] : {std::pair<int64_t, int64_t>{3, 13}, {1, 32}, {5, 1}}) {
      auto ids = random_ids(batch, length, 7);
      torch::jit::Stack stack{ids};
      executor.run(stack);
      EXPECT_LE(max_abs_diff(stack.at(0).toTensor(), model->forward(ids)), 1e-5)
          << o.pos << " batch " << batch << " length " << length;
    }
  }
}

TEST(GPTPadding, MaskedKeyDoesNotChangeOtherPositions) {
  auto model = build(small_gpt());
  torch::NoGradGuard no_grad;
  auto ids = random_ids(2, 12);
  auto mask = torch::ones({2, 12}, torch::kLong);
  mask.index_put_({torch::indexing::Slice(), 4}, 0);
  auto changed = ids.clone();
  changed.index_put_({torch::indexing::Slice(), 4}, (ids.index({torch::indexing::Slice(), 4}) + 7) % kVocab);

  auto a = model->forward_masked(ids, mask);
  auto b = model->forward_masked(changed, mask);
  auto keep = mask.to(torch::kBool);
  EXPECT_LE((a - b).abs().index({keep}).max().item<double>(), 1e-6);
  // Without the mask the same change does reach later positions: the check above has teeth.
  auto later = torch::indexing::Slice(5, torch::indexing::None);
  EXPECT_GT(max_abs_diff(model->forward(ids).index({torch::indexing::Slice(), later}),
                         model->forward(changed).index({torch::indexing::Slice(), later})),
            1e-3);
}

TEST(GPTPadding, LeftPaddedPromptDecodesLikeUnpadded) {
  for (const auto& o : {small_gpt(), llama_style_gpt()}) {
    auto model = build(o);
    torch::NoGradGuard no_grad;
    auto ids = random_ids(1, 10);
    auto alone = model->forward(ids);  // (1, 10, V)

    const int64_t pad = 4;
    auto padded = torch::cat({torch::zeros({1, pad}, torch::kLong), ids}, 1);
    auto mask = torch::cat({torch::zeros({1, pad}, torch::kLong), torch::ones({1, 10}, torch::kLong)}, 1);
    auto masked = model->forward_masked(padded, mask).narrow(1, pad, 10);
    EXPECT_LE(max_abs_diff(masked, alone), 1e-5) << o.pos;

    // Cached: mark the prompt's padding, then decode the rest one token at a time.
    auto cache = model->make_cache(1);
    cache.mark_padding(mask.narrow(1, 0, pad + 6));
    std::vector<torch::Tensor> parts{model->forward_cached(padded.narrow(1, 0, pad + 6), cache).narrow(1, pad, 6)};
    for (int64_t t = pad + 6; t < pad + 10; ++t) parts.push_back(model->forward_cached(padded.narrow(1, t, 1), cache));
    EXPECT_LE(max_abs_diff(torch::cat(parts, 1), alone), 1e-5) << o.pos;
  }
}

TEST(GPTInit, ResidualProjectionsAreScaledDown) {
  GPTOptions o;  // the default 6 x 384: enough weights for a tight std estimate
  auto model = build(o, /*gpt2_init=*/true);
  const double residual = 0.02 / std::sqrt(2.0 * o.n_layer);
  auto params = model->named_parameters();
  for (const char* name : {"h.0.attn.c_proj.weight", "h.5.mlp.c_proj.weight"})
    EXPECT_NEAR(params[name].std().item<double>(), residual, 0.1 * residual) << name;
  for (const char* name : {"h.0.attn.c_attn.weight", "h.3.mlp.c_fc.weight", "wte.weight", "wpe.weight"})
    EXPECT_NEAR(params[name].std().item<double>(), 0.02, 0.002) << name;
  EXPECT_EQ(params["h.0.attn.c_attn.bias"].abs().max().item<double>(), 0.0);
  EXPECT_EQ(params["ln_f.weight"].min().item<double>(), 1.0);
}

// Analytic count: embeddings + per block (2 norms, attention, MLP) + final norm + untied head.
int64_t expected_parameters(const GPTOptions& o, int64_t vocab) {
  const int64_t d = o.d_model, hd = d / o.n_head, kv = o.n_kv_head > 0 ? o.n_kv_head : o.n_head;
  const int64_t b = o.bias ? 1 : 0;
  const int64_t norm = o.norm == "rmsnorm" ? d : d + b * d;
  const int64_t qkv = (o.n_head + 2 * kv) * hd;
  const int64_t attention = d * qkv + b * qkv + d * d + b * d;
  const int64_t hidden = o.mlp == "swiglu" ? zoo::models::nn::swiglu_hidden(d) : 4 * d;
  const int64_t mlp = o.mlp == "swiglu" ? 3 * d * hidden + b * (2 * hidden + d) : 2 * d * hidden + b * (hidden + d);
  int64_t total = vocab * d + (o.pos == "learned" ? o.block_size * d : 0);
  total += o.n_layer * (2 * norm + attention + mlp) + norm;
  if (!o.tie_weights) total += vocab * d;
  return total;
}

TEST(GPTParameters, CountMatchesFormula) {
  GPTOptions quickstart;  // 6 x 384, learned, tied, with biases
  EXPECT_EQ(build(quickstart)->num_parameters(), expected_parameters(quickstart, kVocab));
  EXPECT_EQ(build(llama_style_gpt())->num_parameters(), expected_parameters(llama_style_gpt(), kVocab));

  // nanoGPT's shakespeare-char model (vocab 65, bias off) reports 10.65M parameters, not
  // counting position embeddings.
  GPTOptions shakespeare;
  shakespeare.bias = false;
  auto model = std::make_shared<GPTImpl>(shakespeare, 65);
  EXPECT_EQ(model->num_parameters() - shakespeare.block_size * shakespeare.d_model, 10'646'784);
}

TEST(GPTParameters, DecayGroupsSplitEveryTensorOnce) {
  for (const auto& o : {small_gpt(), llama_style_gpt()}) {
    auto model = build(o);
    auto decay = model->decay_parameters();
    auto no_decay = model->no_decay_parameters();
    std::unordered_set<const void*> seen;
    int64_t elements = 0;
    for (const auto& p : decay) {
      EXPECT_GE(p.dim(), 2);
      EXPECT_TRUE(seen.insert(p.unsafeGetTensorImpl()).second);
      elements += p.numel();
    }
    for (const auto& p : no_decay) {
      EXPECT_TRUE(seen.insert(p.unsafeGetTensorImpl()).second);
      elements += p.numel();
    }
    EXPECT_EQ(elements, model->num_parameters());
    auto params = model->named_parameters();
    auto in = [&](const std::vector<torch::Tensor>& group, const std::string& name) {
      for (const auto& p : group)
        if (p.is_same(params[name])) return true;
      return false;
    };
    EXPECT_TRUE(in(no_decay, "wte.weight"));
    EXPECT_TRUE(in(no_decay, "ln_f.weight"));
    EXPECT_TRUE(in(decay, "h.1.attn.c_attn.weight"));
    EXPECT_TRUE(in(decay, "h.1.mlp.c_proj.weight"));
    if (!o.tie_weights) {
      EXPECT_TRUE(in(decay, "lm_head.weight"));
    } else {
      EXPECT_TRUE(in(no_decay, "wpe.weight"));
      EXPECT_TRUE(in(no_decay, "h.0.attn.c_attn.bias"));
    }
    // 2-D tensors that decay: 4 per block (c_attn, c_proj, MLP in/out) + the gate, + untied head.
    const size_t per_block = o.mlp == "swiglu" ? 5 : 4;
    EXPECT_EQ(decay.size(), per_block * o.n_layer + (o.tie_weights ? 0 : 1));
  }
}

TEST(GPTTraining, DropoutOnlyInTrainingMode) {
  auto o = small_gpt();
  o.dropout = 0.2;
  auto model = build(o);
  auto ids = random_ids(2, 16);
  torch::NoGradGuard no_grad;
  EXPECT_EQ(max_abs_diff(model->forward(ids), model->forward(ids)), 0.0);
  model->train();
  EXPECT_GT(max_abs_diff(model->forward(ids), model->forward(ids)), 1e-3);
}

TEST(GPTOptionsCheck, CrossFieldMistakesAreUserErrors) {
  auto expect_error = [](GPTOptions o, const std::string& needle) {
    try {
      GPTImpl model(o, kVocab);
      ADD_FAILURE() << "no error for " << needle;
    } catch (const zoo::UserError& e) {
      std::string what = e.what();
      EXPECT_EQ(what.rfind("model: ", 0), 0u) << what;
      EXPECT_NE(what.find(needle), std::string::npos) << what;
    }
  };
  auto o = small_gpt();
  o.n_head = 5;
  expect_error(o, "divisible by n_head");
  o = small_gpt();
  o.n_kv_head = 3;
  expect_error(o, "n_kv_head (3) must divide n_head (4)");
  o = small_gpt();
  o.n_kv_head = 8;
  expect_error(o, "n_kv_head");
  o = small_gpt();
  o.pos = "rotary";
  o.d_model = 36;
  o.n_head = 4;  // head size 9
  expect_error(o, "even head size");
  EXPECT_THROW(GPTImpl(small_gpt(), 0), zoo::UserError);
}

TEST(GPTRegistry, RecipeBuildsAGPTAndRejectsBadChoices) {
  zoo::models::register_models();
  auto read = [](const std::string& yaml) {
    auto doc = zoo::RecipeDocument::load_string(yaml, "r.yaml");
    zoo::Reader reader(doc, doc.root(), "");
    zoo::Component model;
    reader.component("model", model, "model", "");
    return model;
  };
  auto component = read("model: {type: gpt, n_layer: 2, n_head: 2, d_model: 32, block_size: 16, mlp: swiglu}\n");
  auto model = zoo::models::language_models().build(component, zoo::models::ModelContext{kVocab});
  EXPECT_EQ(model->context_length(), 16);
  EXPECT_EQ(model->vocab_size(), kVocab);
  auto& gpt = dynamic_cast<GPTImpl&>(*model);
  EXPECT_EQ(gpt.options().mlp, "swiglu");
  EXPECT_EQ(model->forward(random_ids(2, 16)).sizes(), (std::vector<int64_t>{2, 16, kVocab}));

  EXPECT_THROW(read("model: {type: gpt, norm: batchnorm}\n"), zoo::UserError);
  EXPECT_THROW(read("model: {type: gpt, n_layer: 0}\n"), zoo::UserError);
  EXPECT_THROW(read("model: {type: gpt, dropout: 1.5}\n"), zoo::UserError);
}
