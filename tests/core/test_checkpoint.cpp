// Checkpoint directories appear whole or not at all; latest, pruning and best behave.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/checkpoint.h"

namespace fs = std::filesystem;

namespace zoo {
namespace {

struct RunDir {
  fs::path path = fs::temp_directory_path() / ("zoo-ckpt-" + std::to_string(::getpid()));
  RunDir() { fs::create_directories(path / "checkpoints"); }
  ~RunDir() { fs::remove_all(path); }
};

void write_checkpoint(const RunDir& run, int64_t step) {
  CheckpointWriter writer((run.path / "checkpoints").string(), checkpoint_name(step));
  std::ofstream(writer.path("model.pt")) << "weights " << step;
  set_latest(run.path.string(), writer.commit());
}

TEST(Checkpoint, UncommittedWriterLeavesNothing) {
  RunDir run;
  {
    CheckpointWriter writer((run.path / "checkpoints").string(), checkpoint_name(5));
    std::ofstream(writer.path("model.pt")) << "half";
  }
  EXPECT_TRUE(fs::is_empty(run.path / "checkpoints"));
  EXPECT_FALSE(latest_checkpoint(run.path.string()).has_value());
}

TEST(Checkpoint, LatestPruneAndBest) {
  RunDir run;
  for (int64_t step : {10, 20, 30, 40}) write_checkpoint(run, step);
  EXPECT_EQ(fs::path(*latest_checkpoint(run.path.string())).filename(), "step_000040");
  prune_checkpoints(run.path.string(), 2);
  EXPECT_FALSE(fs::exists(run.path / "checkpoints/step_000020"));
  EXPECT_TRUE(fs::exists(run.path / "checkpoints/step_000030"));
  publish_best(run.path.string(), (run.path / "checkpoints/step_000030").string());
  std::ifstream best(run.path / "best/model.pt");
  std::string content;
  std::getline(best, content);
  EXPECT_EQ(content, "weights 30");
  // A stale pointer (its directory gone) falls back to the newest complete checkpoint.
  fs::remove_all(run.path / "checkpoints/step_000040");
  EXPECT_EQ(fs::path(*latest_checkpoint(run.path.string())).filename(), "step_000030");
  // A temporary left by a crash is never taken for a checkpoint, and pruning removes it.
  fs::create_directories(run.path / "checkpoints/.tmp-step_000050");
  EXPECT_EQ(fs::path(*latest_checkpoint(run.path.string())).filename(), "step_000030");
  prune_checkpoints(run.path.string(), 2);
  EXPECT_FALSE(fs::exists(run.path / "checkpoints/.tmp-step_000050"));
  // A kill between a checkpoint's rename into place and the pointer's update: the newer
  // (complete) checkpoint wins over the pointer.
  write_checkpoint(run, 60);
  set_latest(run.path.string(), (run.path / "checkpoints/step_000030").string());
  EXPECT_EQ(fs::path(*latest_checkpoint(run.path.string())).filename(), "step_000060");
}

}  // namespace
}  // namespace zoo
