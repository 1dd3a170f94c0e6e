// `zoo eval`: a trained run's metrics on its validation data or a given file.
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>
#include <vector>

namespace zoo::trainers {
struct LoadedRun;
}

namespace zoo::cli {

struct EvalCommand {
  std::string run_dir, checkpoint = "best", device, data_file, split = "valid", base;
  std::vector<std::string> metrics;
  std::optional<int64_t> seed, beams, few_shot;
  std::optional<double> length_penalty;
  int64_t samples = 16;
  bool json = false;
  bool moe_stats = false;

  CLI::App* add_to(CLI::App& app);
  void run() const;

 private:
  void print_routing(trainers::LoadedRun& loaded) const;
};

}  // namespace zoo::cli
