// `zoo launch`: starts data-parallel ranks of a zoo command with torchrun's environment
// contract, on this host and (with --nnodes) as one node of several.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace zoo::cli {

struct LaunchCommand {
  int nproc = 1, nnodes = 1, node_rank = 0;
  int master_port = 0;  // 0: a free port on one host, torchrun's 29500 across several
  std::string master_addr = "127.0.0.1";
  std::vector<std::string> command;  // after --: e.g. train RECIPE.yaml key=value

  CLI::App* add_to(CLI::App& app);
  // Runs the ranks to the end; the exit code of the first rank that failed, else 0.
  int run(const std::string& self) const;
};

}  // namespace zoo::cli
