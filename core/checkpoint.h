// Crash-safe files and checkpoint directories: everything is written to a temporary name,
// fsynced, then renamed, so a reader sees the old version or the new one, never half of one.
#pragma once

#include <optional>
#include <string>

#include "core/files.h"

namespace zoo {

// A checkpoint being written: files go into `<dir>/.tmp-<name>`; commit() fsyncs them and
// renames the directory to `<dir>/<name>`. Destroyed uncommitted, it removes the temporary.
class CheckpointWriter {
 public:
  CheckpointWriter(const std::string& checkpoints_dir, const std::string& name);
  ~CheckpointWriter();
  CheckpointWriter(const CheckpointWriter&) = delete;
  CheckpointWriter& operator=(const CheckpointWriter&) = delete;

  // Where to write `file` (relative) before commit.
  std::string path(const std::string& file) const;
  // Makes the checkpoint visible; returns its final path.
  std::string commit();

 private:
  std::string final_dir_;
  std::string temp_dir_;
  bool committed_ = false;
};

// `<run>/checkpoints/step_000500`.
std::string checkpoint_name(int64_t step);

// The `latest` pointer in the run directory, written after the checkpoint it names exists.
void set_latest(const std::string& run_dir, const std::string& checkpoint_dir);

// The checkpoint to resume from: the newest step directory (each is complete once it exists),
// else what `latest` names; nullopt when the run has none.
std::optional<std::string> latest_checkpoint(const std::string& run_dir);

// Resolves "latest", "best" or "step_N" in a run directory to a checkpoint path.
std::optional<std::string> find_checkpoint(const std::string& run_dir, const std::string& which);

// Deletes all but the newest `keep_last` step directories (0 keeps all) and stale temporaries.
void prune_checkpoints(const std::string& run_dir, int64_t keep_last);

// Publishes `checkpoint_dir` as `<run>/best` (hard links, so no data is copied).
void publish_best(const std::string& run_dir, const std::string& checkpoint_dir);

}  // namespace zoo
