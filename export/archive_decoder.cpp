#include "export/archive_decoder.h"

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <filesystem>

#include "core/config.h"
#include "core/error.h"
#include "core/files.h"
#include "export/torchscript.h"

namespace zoo::exporting {
namespace {

class ArchiveDecoder : public generation::Decoder {
 public:
  ArchiveDecoder(torch::jit::Module& module, int64_t context, torch::Device device)
      : module_(module), context_(context), device_(device) {}

  torch::Tensor start(const torch::Tensor& ids, const torch::Tensor& mask) override {
    ids_ = ids.to(device_);
    mask_ = mask.to(device_, torch::kLong);
    padded_ = !mask.all().item<bool>();  // steps only append real tokens, so this holds until the next start
    return run();
  }
  torch::Tensor step(const torch::Tensor& ids) override {
    ids_ = torch::cat({ids_, ids.to(device_).view({-1, 1})}, 1);
    mask_ = torch::cat({mask_, torch::ones({mask_.size(0), 1}, mask_.options())}, 1);
    return run();
  }
  void reorder(const torch::Tensor& index) override {
    ids_ = ids_.index_select(0, index.to(device_));
    mask_ = mask_.index_select(0, index.to(device_));
  }
  int64_t room() const override { return context_ - ids_.size(1); }
  int64_t context_length() const override { return context_; }
  torch::Device device() const override { return device_; }

 private:
  torch::Tensor run() {
    // Without padding the unmasked forward is the same computation, minus the mask.
    auto logits = padded_ ? module_.forward({ids_, mask_}) : module_.forward({ids_});
    return logits.toTensor().select(1, -1).to(torch::kFloat32);  // (B, V)
  }

  torch::jit::Module& module_;
  int64_t context_;
  torch::Device device_;
  torch::Tensor ids_, mask_;
  bool padded_ = false;
};

}  // namespace

LoadedArchive load_exported(const std::string& path, const torch::Device& device) {
  namespace fs = std::filesystem;
  if (!fs::is_regular_file(path)) throw UserError(path + ": no such file (write one with zoo export RUN_DIR)");
  ExtraFiles extra;
  LoadedArchive archive;
  archive.module = load_archive(path, {kArchiveManifest, kArchiveRecipe}, extra, device);
  for (const char* name : {kArchiveManifest, kArchiveRecipe})
    if (!extra.count(name))
      throw UserError(path + ": a TorchScript archive without " + name +
                      ", so not one zoo export wrote; it needs the tokenizer and recipe zoo export bundles");
  const auto damaged = [&](const std::string& what) {
    return UserError(path + ": " + kArchiveManifest + " " + what + " (damaged); export the run again with zoo export RUN_DIR");
  };
  auto manifest = nlohmann::json::parse(extra.at(kArchiveManifest), nullptr, /*allow_exceptions=*/false);
  if (!manifest.is_object()) throw damaged("is not a JSON object");
  if (!manifest.contains("tokenizer_files") || !manifest["tokenizer_files"].is_array()) throw damaged("lists no tokenizer_files");
  if (!manifest.value("context_length", nlohmann::json(0)).is_number_integer()) throw damaged("has no integer context_length");
  archive.context_length = manifest.value("context_length", int64_t{0});

  // The tokenizer travels as files; it is rebuilt from a temporary directory.
  std::vector<std::string> tokenizer_files;
  for (const auto& name : manifest["tokenizer_files"]) {
    if (!name.is_string()) throw damaged("has a tokenizer file name that is not a string");
    tokenizer_files.push_back(kArchiveTokenizerDir + name.get<std::string>());
  }
  ExtraFiles tokenizer_extra;
  load_archive(path, tokenizer_files, tokenizer_extra, device);
  for (const auto& name : tokenizer_files)
    if (!tokenizer_extra.count(name))
      throw UserError(path + ": " + name + " is missing from the archive (damaged); export the run again with zoo "
                                           "export RUN_DIR");
  const fs::path dir = fs::temp_directory_path() / ("zoo-archive-tokenizer-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  for (const auto& [name, content] : tokenizer_extra) write_file_atomic((dir / name.substr(std::string(kArchiveTokenizerDir).size())).string(), content);
  try {
    archive.tokenizer = tokenizers::load_tokenizer(dir.string());
  } catch (const UserError& e) {
    fs::remove_all(dir);
    // The error names the temporary copy; the user knows the archive.
    std::string what = e.what();
    if (what.rfind(dir.string(), 0) == 0) what = what.substr(dir.string().size() + 1);
    throw UserError(path + ": its tokenizer does not load (" + what + "); export the run again with zoo export RUN_DIR");
  } catch (...) {
    fs::remove_all(dir);
    throw;
  }
  fs::remove_all(dir);

  auto doc = RecipeDocument::load_string(extra.at(kArchiveRecipe), path + ":" + kArchiveRecipe);
  const YAML::Node root = doc.root();
  Reader reader(doc, root["generation"], "generation");
  archive.generation.visit(reader);
  archive.seed = root["seed"] ? root["seed"].as<int64_t>() : 0;
  return archive;
}

std::unique_ptr<generation::Decoder> archive_decoder(torch::jit::Module& module, int64_t context_length,
                                                     const torch::Device& device) {
  return std::make_unique<ArchiveDecoder>(module, context_length, device);
}

}  // namespace zoo::exporting
