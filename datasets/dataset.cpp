// The data factory, and the texts tokenizers learn from.
#include "datasets/dataset.h"

#include <filesystem>
#include <fstream>

#include "core/files.h"

namespace zoo::datasets {

Factory<std::shared_ptr<Dataset>, const DataContext&>& datasets() {
  static Factory<std::shared_ptr<Dataset>, const DataContext&> factory("data");
  return factory;
}

std::vector<std::string> DataOptionsBase::texts(const std::string& file) const { return {read_file(file)}; }

std::vector<std::string> DataOptionsBase::split_files(const std::string& split) const {
  std::string file = split_file(split);
  if (file.empty()) return {};
  return {std::move(file)};
}

std::string tokenizer_training_file(const Component& data, const std::string& train_on) {
  namespace fs = std::filesystem;
  const std::string prefix = "data.";
  if (train_on.rfind(prefix, 0) != 0) {
    if (!fs::is_regular_file(train_on))
      throw UserError("tokenizer.train_on: '" + train_on +
                      "' is neither a key of the data section (data.train, data.valid) nor an existing file");
    return train_on;
  }
  const std::string split = train_on.substr(prefix.size());
  const auto* options = dynamic_cast<const DataOptionsBase*>(data.options.get());
  const std::vector<std::string> files = options ? options->split_files(split) : std::vector<std::string>{};
  if (files.empty())
    throw UserError("tokenizer.train_on: the data section (type " + data.type + ") has no file at '" + train_on +
                    "'; use data.train, or name a text file");
  if (data.type == "text" && files.size() == 1) return files[0];
  // Their texts, one a line, extracted once per content of the files (in their order).
  std::string key = file_hash(files[0]);
  if (files.size() > 1) {
    std::string hashes;
    for (const auto& file : files) hashes += file_hash(file);
    key = content_hash(hashes);
  }
  const fs::path extracted = fs::path(cache_dir()) / "texts" / (data.type + "-" + key + ".txt");
  if (fs::exists(extracted)) return extracted.string();
  std::string lines;
  for (const auto& file : files) {
    for (std::string text : options->texts(file)) {
      for (char& c : text)
        if (c == '\n' || c == '\r') c = ' ';
      lines += text + "\n";
    }
  }
  fs::create_directories(extracted.parent_path());
  write_file_atomic(extracted.string(), lines);
  return extracted.string();
}

std::shared_ptr<tokenizers::Tokenizer> build_tokenizer(const Recipe& recipe) {
  const auto& options = dynamic_cast<const tokenizers::TokenizerOptionsBase&>(*recipe.tokenizer.options);
  // A saved tokenizer learns nothing: no training text to extract.
  if (recipe.tokenizer.type == "saved") return tokenizers::tokenizers().build(recipe.tokenizer, "");
  return tokenizers::tokenizers().build(recipe.tokenizer, tokenizer_training_file(recipe.data, options.train_on));
}

}  // namespace zoo::datasets
