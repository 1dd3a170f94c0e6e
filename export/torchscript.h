// TorchScript export: a C++ model traced into a torch::jit::Module whose parameters are named
// attributes (in submodules mirroring the C++ module tree, so Python's named_parameters()
// lists them), saved with the files that make it self-contained: tokenizer, resolved recipe,
// manifest. Code on the traced path takes shapes from tensors, so the graph runs at any
// batch size and length.
#pragma once

#include <torch/script.h>
#include <torch/torch.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace zoo::exporting {

// One method of the archive, traced from `fn` at `example_inputs`.
struct TracedMethod {
  std::string name;
  std::vector<torch::Tensor> example_inputs;
  std::function<torch::Tensor(const std::vector<torch::Tensor>&)> fn;
  // Set instead of fn, the method returns these tensors as one tuple (a seq2seq decode_step
  // returns its logits and the next state).
  std::function<std::vector<torch::Tensor>(const std::vector<torch::Tensor>&)> tuple_fn = nullptr;
};

// A TorchScript module of class `class_name` holding `module`'s parameters and buffers (the
// same tensors), then each method traced, then `source` (TorchScript methods calling them).
torch::jit::Module trace_module(torch::nn::Module& module, const std::string& class_name,
                                const std::vector<TracedMethod>& methods, const std::string& source = "");

// The extra files `zoo export` bundles: what the archive is, the resolved recipe, and every
// file of the saved tokenizer under the tokenizer directory.
inline constexpr const char* kArchiveManifest = "zoo/manifest.json";
inline constexpr const char* kArchiveRecipe = "zoo/recipe.yaml";
inline constexpr const char* kArchiveTokenizerDir = "zoo/tokenizer/";
inline constexpr const char* kArchiveVocab = "zoo/vocab.txt";  // piece of id i on line i, \n and \\ escaped

// Extra files of an archive, by name ("zoo/manifest.json", "zoo/tokenizer/tokenizer.json", ...).
using ExtraFiles = std::map<std::string, std::string>;

// Writes `module` and `extra` to `path` atomically (a temporary file renamed into place).
void save_archive(torch::jit::Module& module, const ExtraFiles& extra, const std::string& path);

// Loads an archive and the extra files named in `wanted` (absent ones are left out of the result).
torch::jit::Module load_archive(const std::string& path, const std::vector<std::string>& wanted, ExtraFiles& extra,
                                const torch::Device& device = torch::kCPU);

}  // namespace zoo::exporting
