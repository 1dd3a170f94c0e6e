// Tracing a GPT into TorchScript: named parameters, other shapes than the traced one, the
// masked path, extra files, and Python's torch.jit.load on the same archive.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "export/torchscript.h"
#include "models/gpt.h"

namespace fs = std::filesystem;
using zoo::exporting::TracedMethod;

namespace {

constexpr int64_t kVocab = 50, kContext = 32;

// experts > 0: an MoE layer of that many experts, top-2, in every block.
std::shared_ptr<zoo::models::GPTImpl> small_gpt(const std::string& pos = "learned", int64_t experts = 0) {
  zoo::models::GPTOptions o;
  o.block_size = kContext;
  o.n_layer = 2;
  o.n_head = 4;
  o.d_model = 64;
  o.pos = pos;
  o.moe.num_experts = experts;
  o.moe.every = 1;
  torch::manual_seed(0);
  auto model = std::make_shared<zoo::models::GPTImpl>(o, kVocab);
  torch::NoGradGuard no_grad;
  for (auto& p : model->parameters())  // O(1) activations, so a wrong op shows
    if (p.dim() >= 2) p.normal_(0.0, 1.0 / std::sqrt(static_cast<double>(p.size(1))));
  model->eval();
  return model;
}

const char* kForward = R"(
def forward(self, input_ids: Tensor, attention_mask: Optional[Tensor] = None) -> Tensor:
    if attention_mask is None:
        return self.logits(input_ids)
    return self.logits_masked(input_ids, attention_mask)
)";

torch::jit::Module trace(zoo::models::GPTImpl& model) {
  auto ids = torch::randint(kVocab, {2, 8});
  return zoo::exporting::trace_module(
      model, "GPT",
      {TracedMethod{"logits", {ids}, [&](const std::vector<torch::Tensor>& in) { return model.forward(in[0]); }},
       TracedMethod{"logits_masked", {ids, torch::ones_like(ids)},
                    [&](const std::vector<torch::Tensor>& in) { return model.forward_masked(in[0], in[1]); }}},
      kForward);
}

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }

const std::vector<std::pair<int64_t, int64_t>> kShapes{{1, 1}, {3, 17}, {7, kContext}};

// Fresh inputs at batch 1, 3, 7 by length 1, 17, the full context: the archive in libtorch and
// in Python (torch.jit.load) gives the C++ model's logits.
void expect_python_parity(zoo::models::GPTImpl& model, torch::jit::Module& loaded, const std::string& archive,
                          const fs::path& dir) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> cases;
  for (int64_t batch : {1, 3, 7})
    for (int64_t length : {int64_t{1}, int64_t{17}, kContext}) {
      auto ids = torch::randint(kVocab, {batch, length}, torch::TensorOptions().dtype(torch::kLong));
      cases.push_back(ids);
      cases.push_back(model.forward(ids));
      EXPECT_LE(max_abs_diff(loaded.forward({ids}).toTensor(), cases.back()), 1e-5);
    }
  auto bytes = torch::pickle_save(c10::List<torch::Tensor>(cases));
  std::ofstream((dir / "cases.pt").string(), std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));

  const std::string command = std::string(ZOO_PYTHON) + " " + ZOO_SOURCE_DIR + "/tests/python/torchscript_parity.py " +
                              archive + " " + (dir / "cases.pt").string() + " > " + (dir / "python.txt").string() + " 2>&1";
  const int status = std::system(command.c_str());
  std::ifstream in(dir / "python.txt");
  std::string output((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(status, 0) << output;
  EXPECT_NE(output.find("9 shapes within 1e-05"), std::string::npos) << output;
  EXPECT_NE(output.find(std::to_string(model.named_parameters().size()) + " named parameters"), std::string::npos) << output;
}

}  // namespace

TEST(TorchScriptExport, ParametersAreNamedAttributes) {
  auto model = small_gpt();
  auto traced = trace(*model);
  std::map<std::string, torch::Tensor> exported;
  for (const auto& p : traced.named_parameters()) exported[p.name] = p.value;
  ASSERT_EQ(exported.size(), model->named_parameters().size());
  for (const auto& p : model->named_parameters()) {
    ASSERT_TRUE(exported.count(p.key())) << p.key();
    EXPECT_TRUE(exported[p.key()].equal(p.value())) << p.key();
  }
}

TEST(TorchScriptExport, RunsAtShapesOtherThanTraced) {
  for (const std::string pos : {"learned", "rotary"}) {
    auto model = small_gpt(pos);
    auto traced = trace(*model);
    torch::NoGradGuard no_grad;
    for (auto [batch, length] : kShapes) {
      auto ids = torch::randint(kVocab, {batch, length});
      auto expected = model->forward(ids);
      EXPECT_LE(max_abs_diff(traced.forward({ids}).toTensor(), expected), 1e-5) << pos << " " << batch << "x" << length;
      // Left padding through the mask: the real tokens get the logits they get unpadded.
      auto padded = torch::cat({torch::zeros({batch, 3}, torch::kLong), ids.narrow(1, 0, std::min<int64_t>(length, kContext - 3))}, 1);
      auto mask = torch::cat({torch::zeros({batch, 3}, torch::kLong), torch::ones_like(ids.narrow(1, 0, padded.size(1) - 3))}, 1);
      auto masked = traced.forward({padded, mask}).toTensor();
      EXPECT_LE(max_abs_diff(masked, model->forward_masked(padded, mask)), 1e-5) << pos;
    }
  }
}

TEST(TorchScriptExport, ArchiveKeepsExtraFilesAndPythonRunsIt) {
  auto model = small_gpt();
  auto traced = trace(*model);
  const fs::path dir = fs::temp_directory_path() / ("zoo_export_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string archive = (dir / "gpt.pt").string();
  zoo::exporting::save_archive(traced, {{"zoo/manifest.json", "{\"format\": 1}"}, {"zoo/recipe.yaml", "name: x\n"}}, archive);

  zoo::exporting::ExtraFiles extra;
  auto loaded = zoo::exporting::load_archive(archive, {"zoo/manifest.json", "zoo/recipe.yaml", "zoo/missing"}, extra);
  EXPECT_EQ(extra.at("zoo/manifest.json"), "{\"format\": 1}");
  EXPECT_EQ(extra.at("zoo/recipe.yaml"), "name: x\n");
  EXPECT_EQ(extra.count("zoo/missing"), 0u);

  expect_python_parity(*model, loaded, archive, dir);
  fs::remove_all(dir);
}

// The routing is recorded in the trace as data-dependent ops (which expert each token picks, how
// many tokens each expert gets), so other batches and lengths route as the C++ model does.
TEST(TorchScriptExport, MoEGptRoutesAtShapesOtherThanTracedInLibtorchAndPython) {
  auto model = small_gpt("learned", 4);
  auto traced = trace(*model);
  const fs::path dir = fs::temp_directory_path() / ("zoo_export_moe_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string archive = (dir / "moe_gpt.pt").string();
  zoo::exporting::save_archive(traced, {}, archive);
  zoo::exporting::ExtraFiles extra;
  auto loaded = zoo::exporting::load_archive(archive, {}, extra);
  {
    torch::NoGradGuard no_grad;
    for (auto [batch, length] : kShapes) {
      auto ids = torch::randint(kVocab, {batch, length});
      auto padded = torch::cat({torch::zeros({batch, 2}, torch::kLong), ids.narrow(1, 0, std::min<int64_t>(length, kContext - 2))}, 1);
      auto mask = torch::cat({torch::zeros({batch, 2}, torch::kLong), torch::ones_like(ids.narrow(1, 0, padded.size(1) - 2))}, 1);
      EXPECT_LE(max_abs_diff(loaded.forward({padded, mask}).toTensor(), model->forward_masked(padded, mask)), 1e-5);
    }
  }
  expect_python_parity(*model, loaded, archive, dir);
  fs::remove_all(dir);
}
