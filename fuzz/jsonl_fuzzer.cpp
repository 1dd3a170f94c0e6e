// libFuzzer target: the JSONL reading every example data type shares (datasets/examples.h):
// UTF-8 checking (and replacement), one JSON object a line, string and list fields. The
// input's first byte picks error or replace for invalid UTF-8; the rest is the file. Anything
// but a UserError is a finding.
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "core/error.h"
#include "core/files.h"
#include "datasets/examples.h"

// datasets/dataset.cpp's two DataOptionsBase methods, as they are there: linking that file would
// bring every registered component (and the models) into the target.
namespace zoo::datasets {
std::vector<std::string> DataOptionsBase::texts(const std::string& file) const { return {read_file(file)}; }
std::vector<std::string> DataOptionsBase::split_files(const std::string& split) const {
  std::string file = split_file(split);
  if (file.empty()) return {};
  return {std::move(file)};
}
}  // namespace zoo::datasets

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const std::string path = "/dev/shm/zoo_jsonl_fuzz_" + std::to_string(::getpid()) + ".jsonl";
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(data + 1), static_cast<std::streamsize>(size - 1));
  try {
    const zoo::datasets::DataFile file(path, data[0] % 2 == 0 ? "error" : "replace");
    file.format({zoo::datasets::FileFormat::jsonl}, "fuzz");
    for (const auto& line : file.lines()) {
      if (zoo::datasets::is_blank(line.text)) continue;
      const nlohmann::json object = file.json_object(line);
      if (object.contains("tokens")) (void)file.string_list(object, "tokens", line, "fix");
      (void)file.string_field(object, "text", line, "fix", /*number_ok=*/true);
    }
  } catch (const zoo::UserError&) {
  }
  return 0;
}
