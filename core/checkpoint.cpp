#include "core/checkpoint.h"

#include <fcntl.h>
#include <stdio.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include <fmt/format.h>

#include "core/error.h"

namespace fs = std::filesystem;

namespace zoo {
namespace {

std::vector<fs::path> step_directories(const fs::path& checkpoints) {
  std::vector<fs::path> steps;
  if (!fs::is_directory(checkpoints)) return steps;
  for (const auto& entry : fs::directory_iterator(checkpoints)) {
    auto name = entry.path().filename().string();
    if (entry.is_directory() && name.rfind("step_", 0) == 0) steps.push_back(entry.path());
  }
  std::sort(steps.begin(), steps.end());  // zero-padded names sort by step
  return steps;
}

}  // namespace

CheckpointWriter::CheckpointWriter(const std::string& checkpoints_dir, const std::string& name)
    : final_dir_((fs::path(checkpoints_dir) / name).string()),
      temp_dir_((fs::path(checkpoints_dir) / (".tmp-" + name)).string()) {
  fs::remove_all(temp_dir_);
  fs::create_directories(temp_dir_);
}

CheckpointWriter::~CheckpointWriter() {
  if (!committed_) {
    std::error_code ignored;
    fs::remove_all(temp_dir_, ignored);
  }
}

std::string CheckpointWriter::path(const std::string& file) const { return (fs::path(temp_dir_) / file).string(); }

std::string CheckpointWriter::commit() {
  for (const auto& entry : fs::recursive_directory_iterator(temp_dir_)) fsync_path(entry.path().string());
  fsync_path(temp_dir_);
  // A checkpoint of the same step (a run resumed before its next checkpoint) is replaced.
  if (fs::exists(final_dir_)) fs::remove_all(final_dir_);
  fs::rename(temp_dir_, final_dir_);
  fsync_path(fs::path(final_dir_).parent_path().string());
  committed_ = true;
  return final_dir_;
}

std::string checkpoint_name(int64_t step) { return fmt::format("step_{:06d}", step); }

void set_latest(const std::string& run_dir, const std::string& checkpoint_dir) {
  auto relative = fs::relative(checkpoint_dir, run_dir).string();
  write_file_atomic((fs::path(run_dir) / "latest").string(), relative + "\n");
}

// A step directory exists only once complete (CheckpointWriter renames it into place), so the
// newest one is the checkpoint to trust even when a kill came between that rename and the
// `latest` pointer's update.
std::optional<std::string> latest_checkpoint(const std::string& run_dir) {
  auto steps = step_directories(fs::path(run_dir) / "checkpoints");
  if (!steps.empty()) return steps.back().string();
  fs::path pointer = fs::path(run_dir) / "latest";
  if (fs::exists(pointer)) {
    std::ifstream in(pointer);
    std::string relative;
    std::getline(in, relative);
    fs::path dir = fs::path(run_dir) / relative;
    if (!relative.empty() && fs::is_directory(dir)) return dir.string();
  }
  return std::nullopt;
}

std::optional<std::string> find_checkpoint(const std::string& run_dir, const std::string& which) {
  if (which == "latest") return latest_checkpoint(run_dir);
  fs::path dir = which == "best" ? fs::path(run_dir) / "best" : fs::path(run_dir) / "checkpoints" / which;
  if (fs::is_directory(dir)) return dir.string();
  return std::nullopt;
}

void prune_checkpoints(const std::string& run_dir, int64_t keep_last) {
  fs::path checkpoints = fs::path(run_dir) / "checkpoints";
  if (!fs::is_directory(checkpoints)) return;
  for (const auto& entry : fs::directory_iterator(checkpoints))
    if (entry.path().filename().string().rfind(".tmp-", 0) == 0) fs::remove_all(entry.path());
  if (keep_last <= 0) return;
  auto steps = step_directories(checkpoints);
  auto latest = latest_checkpoint(run_dir);
  for (size_t i = 0; i + static_cast<size_t>(keep_last) < steps.size(); ++i) {
    if (latest && fs::path(*latest) == steps[i]) continue;
    // Renamed out of the step names first: a kill during the removal leaves a temporary that
    // no one reads (and the next prune removes), never a half-deleted step directory.
    const fs::path doomed = checkpoints / (".tmp-pruned-" + steps[i].filename().string());
    fs::rename(steps[i], doomed);
    fs::remove_all(doomed);
  }
}

void publish_best(const std::string& run_dir, const std::string& checkpoint_dir) {
  fs::path best = fs::path(run_dir) / "best";
  fs::path temp = fs::path(run_dir) / ".tmp-best";
  fs::path old = fs::path(run_dir) / ".old-best";
  fs::remove_all(temp);
  fs::remove_all(old);
  fs::copy(checkpoint_dir, temp, fs::copy_options::recursive | fs::copy_options::create_hard_links);
  fsync_path(temp.string());
  // Swapped in one step (renameat2 RENAME_EXCHANGE), so `best` is never missing, even when a
  // kill comes in between; the previous best ends up in the temporary, removed after.
  if (!fs::exists(best)) {
    fs::rename(temp, best);
  } else if (::renameat2(AT_FDCWD, temp.c_str(), AT_FDCWD, best.c_str(), RENAME_EXCHANGE) != 0) {
    throw fs::filesystem_error("cannot swap in the new best checkpoint", temp, best,
                               std::error_code(errno, std::generic_category()));
  }
  fsync_path(run_dir);
  fs::remove_all(temp);
  fs::remove_all(old);  // left by earlier versions
}

}  // namespace zoo
