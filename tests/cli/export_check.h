// An exported encoder (classifier or tagger) checked against the run it came from, in libtorch
// and in Python: the archive's forward equals the objective's traced function on a padded batch.
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/script.h>
#include <torch/torch.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cli/register_all.h"
#include "tests/cli/process.h"
#include "trainers/loop.h"

namespace zoo::testing {

struct ExportCheck {
  torch::Tensor expected;        // the run's logits on (ids, mask)
  double cpp_diff = 1;           // max abs difference of the archive in libtorch
  double python_diff = 1;        // ... in Python, over real positions
  double padding_diff = 1;       // the last row alone (mask omitted) against its padded self, in Python
  std::string python_output;
};

// RUN_DIR is dir/runs/<run>, its archive export/model.pt. The last row of (ids, mask) must have
// `last_row_length` real tokens; Python also asserts the manifest's labels equal `labels`.
inline ExportCheck check_exported_encoder(const std::filesystem::path& dir, const std::string& run,
                                          const torch::Tensor& ids, const torch::Tensor& mask,
                                          const std::vector<std::string>& labels, int64_t last_row_length) {
  ExportCheck check;
  zoo::register_all();
  auto loaded = zoo::trainers::load_run((dir / "runs" / run).string(), "latest", "cpu");
  loaded.objective->model().eval();
  {
    torch::NoGradGuard no_grad;
    check.expected = loaded.objective->export_methods()[0].fn({ids, mask});
  }
  const auto archive = dir / "runs" / run / "export/model.pt";
  auto module = torch::jit::load(archive.string());
  check.cpp_diff = (module.forward({ids, mask}).toTensor() - check.expected).abs().max().item<double>();

  c10::Dict<std::string, at::Tensor> tensors;
  tensors.insert("ids", ids);
  tensors.insert("mask", mask);
  tensors.insert("logits", check.expected);
  auto bytes = torch::pickle_save(c10::IValue(tensors));
  std::ofstream(dir / "export_check.pt", std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  std::ofstream(dir / "export_check.py") << R"(import json, sys, torch
extra = {"zoo/manifest.json": ""}
module = torch.jit.load(sys.argv[1], _extra_files=extra)
manifest = json.loads(extra["zoo/manifest.json"])
assert manifest["labels"] == json.loads(sys.argv[2]), manifest
n = int(sys.argv[3])
t = torch.load("export_check.pt")
with torch.no_grad():
    logits = module(t["ids"], t["mask"])
    alone = module(t["ids"][-1:, :n])[0]  # the last row without its padding, mask omitted
diff = logits - t["logits"]
if logits.dim() == 3:  # tags: padded positions carry no label
    diff, padded_self = diff[t["mask"].bool()], logits[-1, :n]
else:
    padded_self = logits[-1]
print(f"{diff.abs().max().item():.3e} {(alone - padded_self).abs().max().item():.3e}")
)";
  auto python = run_shell(std::string(ZOO_PYTHON) + " export_check.py '" + archive.string() + "' '" +
                              nlohmann::json(labels).dump() + "' " + std::to_string(last_row_length),
                          dir);
  EXPECT_EQ(python.exit_code, 0) << python.err;
  check.python_output = python.out;
  std::istringstream(python.out) >> check.python_diff >> check.padding_diff;
  return check;
}

}  // namespace zoo::testing
