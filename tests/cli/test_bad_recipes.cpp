// Every malformed recipe in tests/data/bad_recipes/ gives exactly its expected one-line error
// (file:line:col: key.path: message) and exit code 2, and writes nothing.
#include <gtest/gtest.h>

#include "tests/cli/process.h"

namespace fs = std::filesystem;
using zoo::testing::run_shell;

namespace {

struct BadRecipe {
  std::string file;
  std::string overrides;
  std::string expected;  // the whole stderr line, with the recipe path as given
};

// expected.tsv: file <TAB> overrides (or -) <TAB> message after "file:" (or "<command line>:")
std::vector<BadRecipe> load_cases() {
  std::vector<BadRecipe> cases;
  std::ifstream in(fs::path(ZOO_SOURCE_DIR) / "tests/data/bad_recipes/expected.tsv");
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    auto tab1 = line.find('\t'), tab2 = line.find('\t', tab1 + 1);
    BadRecipe c{line.substr(0, tab1), line.substr(tab1 + 1, tab2 - tab1 - 1), line.substr(tab2 + 1)};
    if (c.overrides == "-") c.overrides.clear();
    cases.push_back(c);
  }
  return cases;
}

}  // namespace

TEST(BadRecipes, EachGivesItsOneLineErrorAndExitCode2) {
  auto cases = load_cases();
  ASSERT_EQ(cases.size(), 12u);
  zoo::testing::TempDir dir;
  zoo::testing::write_tiny_corpus(dir.path() / "tiny.txt");
  for (const auto& c : cases) {
    SCOPED_TRACE(c.file);
    fs::path recipe = fs::path(ZOO_SOURCE_DIR) / "tests/data/bad_recipes" / c.file;
    ASSERT_TRUE(fs::exists(recipe));
    for (const std::string command : {"validate", "train"}) {
      auto result = run_shell(std::string(ZOO_BINARY) + " " + command + " '" + recipe.string() + "' " + c.overrides, dir.path());
      EXPECT_EQ(result.exit_code, 2) << result.err;
      std::string expected = c.expected.rfind("<command line>", 0) == 0 ? c.expected : recipe.string() + ":" + c.expected;
      EXPECT_EQ(result.err, expected + "\n");
      EXPECT_FALSE(fs::exists(dir.path() / "runs")) << "a failed " << command << " wrote a run directory";
    }
  }
}

TEST(BadRecipes, TheSameRecipeFixedValidates) {
  zoo::testing::TempDir dir;
  zoo::testing::write_tiny_corpus(dir.path() / "tiny.txt");
  fs::path recipe = fs::path(ZOO_SOURCE_DIR) / "tests/data/bad_recipes/override_unknown_key.yaml";
  auto result = run_shell(std::string(ZOO_BINARY) + " validate '" + recipe.string() + "' trainer.max_steps=10", dir.path());
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("parameters:"), std::string::npos) << result.out;
}
