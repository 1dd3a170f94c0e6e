// trainer.init_from: resolving the pretrained checkpoint, checking the vocabulary, loading by name.
#include "trainers/init_from.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "core/checkpoint.h"
#include "core/error.h"

namespace zoo::trainers {

namespace fs = std::filesystem;

std::string resolve_init_checkpoint(const std::string& init_from, const std::string& which, const std::string& key) {
  if (fs::is_regular_file(fs::path(init_from) / "model.pt")) return init_from;
  if (!fs::is_directory(init_from))
    throw UserError(key + ": '" + init_from + "' is not a directory; name a run directory (runs/NAME) or a checkpoint");
  auto checkpoint = find_checkpoint(init_from, which);
  if (!checkpoint && which == "best") checkpoint = find_checkpoint(init_from, "latest");
  if (!checkpoint)
    throw UserError(key + ": " + init_from + " has no checkpoint '" + which +
                    "' (train it first, or use latest, best or step_N)");
  return *checkpoint;
}

namespace {

std::string describe(const tokenizers::Tokenizer& tokenizer, const std::string& where) {
  return fmt::format("{} ({} tokenizer, {} tokens, fingerprint {})", where, tokenizer.type(), tokenizer.vocab_size(),
                     fingerprint(tokenizer).substr(0, 12));
}

std::string shape(const torch::Tensor& t) {
  std::ostringstream s;
  s << t.sizes();
  return s.str();
}

// Every tensor of `archive` (a saved module), by dotted name.
void collect_tensors(torch::serialize::InputArchive& archive, const std::string& prefix, std::set<std::string>& out) {
  for (const auto& key : archive.keys()) {
    torch::Tensor tensor;
    bool is_tensor = false;
    try {
      is_tensor = archive.try_read(key, tensor);
    } catch (const c10::Error&) {
    }
    if (is_tensor) {
      out.insert(prefix + key);
      continue;
    }
    torch::serialize::InputArchive child;
    try {
      if (archive.try_read(key, child)) collect_tensors(child, prefix + key + ".", out);
    } catch (const c10::Error&) {
    }
  }
}

void load_module(torch::nn::Module& module, torch::serialize::InputArchive* archive, const std::string& prefix,
                 const std::function<bool(const std::string&)>& keep_fresh, InitReport& report,
                 std::set<std::string>& used) {
  for (auto& item : module.named_parameters(/*recurse=*/false)) {
    const std::string name = prefix + item.key();
    torch::Tensor saved;
    if (keep_fresh(name) || !archive || !archive->try_read(item.key(), saved)) {
      report.fresh.push_back(name);
      continue;
    }
    used.insert(name);
    if (saved.sizes() != item.value().sizes()) {
      report.mismatched.push_back(fmt::format("{} (checkpoint {} vs model {})", name, shape(saved), shape(item.value())));
      continue;
    }
    torch::NoGradGuard no_grad;
    item.value().copy_(saved);
    report.loaded.push_back(name);
  }
  for (auto& child : module.named_children()) {
    torch::serialize::InputArchive sub;
    const bool found = archive && archive->try_read(child.key(), sub);
    load_module(*child.value(), found ? &sub : nullptr, prefix + child.key() + ".", keep_fresh, report, used);
  }
}

}  // namespace

void require_same_vocabulary(const tokenizers::Tokenizer& ours, const std::string& checkpoint_dir,
                             const std::string& init_from, const std::string& key) {
  auto theirs = tokenizers::load_tokenizer((fs::path(checkpoint_dir) / "tokenizer").string());
  if (fingerprint(*theirs) == fingerprint(ours)) return;
  throw UserError(fmt::format("{}: the pretrained run's vocabulary differs from this recipe's tokenizer: {} vs {}; "
                              "use the pretrained tokenizer (tokenizer: {{type: saved, path: {}}})",
                              key, describe(*theirs, checkpoint_dir), describe(ours, "the recipe's tokenizer"),
                              init_from));
}

std::string summarize_names(const std::vector<std::string>& names) {
  std::map<std::string, int64_t> groups;
  std::vector<std::string> order;
  for (const auto& name : names) {
    const std::string group = name.substr(0, name.find('.'));
    if (groups[group]++ == 0) order.push_back(group);
  }
  std::string out;
  for (const auto& group : order) out += fmt::format("{}{} ({})", out.empty() ? "" : ", ", group, groups[group]);
  return out.empty() ? "none" : out;
}

InitReport load_pretrained(torch::nn::Module& model, const std::string& checkpoint_dir,
                           const std::function<bool(const std::string&)>& keep_fresh, bool log) {
  const std::string path = (fs::path(checkpoint_dir) / "model.pt").string();
  if (!fs::exists(path) && fs::exists(fs::path(checkpoint_dir) / "adapter.pt"))
    throw UserError(checkpoint_dir + ": holds LoRA adapters only, not a whole model; write one with `zoo lora merge RUN "
                    "--out RUN_MERGED` and start from that");
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path, torch::kCPU);
  } catch (const c10::Error& e) {
    throw UserError(path + ": cannot read the pretrained weights (corrupt?): " +
                    std::string(e.what_without_backtrace()).substr(0, 200));
  }
  InitReport report;
  std::set<std::string> used, saved;
  load_module(model, &archive, "", keep_fresh, report, used);
  collect_tensors(archive, "", saved);
  for (const auto& name : saved)
    if (!used.count(name)) report.unused.push_back(name);
  if (report.loaded.empty() && !report.mismatched.empty())
    throw UserError(checkpoint_dir + ": none of its tensors has this model's shape (" + report.mismatched.front() +
                    ", and " + std::to_string(report.mismatched.size() - 1) +
                    " more); init_from needs a run of the same model type and size");
  if (report.loaded.empty())
    throw UserError(checkpoint_dir + ": none of its tensors fits this model (names: " + summarize_names(report.unused) +
                    "); init_from needs a run of the same model type");

  if (!log) return report;
  spdlog::info("init_from {}: loaded {} tensors: {}", checkpoint_dir, report.loaded.size(), summarize_names(report.loaded));
  spdlog::info("init_from: newly initialised: {}", report.fresh.empty() ? "none" : fmt::format("{}", fmt::join(report.fresh, ", ")));
  if (!report.unused.empty())
    spdlog::info("init_from: not used from the checkpoint: {}", fmt::format("{}", fmt::join(report.unused, ", ")));
  if (!report.mismatched.empty())
    spdlog::warn("init_from: shapes differ, kept fresh: {}", fmt::format("{}", fmt::join(report.mismatched, ", ")));
  return report;
}

std::string init_whole_model(torch::nn::Module& model, const tokenizers::Tokenizer& tokenizer,
                             const InitFromOptions& options, const std::string& own_checkpoint) {
  if (options.init_from.empty() || !own_checkpoint.empty()) return "";
  const std::string checkpoint = resolve_init_checkpoint(options.init_from, options.init_checkpoint, "trainer.init_from");
  require_same_vocabulary(tokenizer, checkpoint, options.init_from, "trainer.init_from");
  load_pretrained(model, checkpoint, [](const std::string&) { return false; });
  return checkpoint;
}

}  // namespace zoo::trainers
