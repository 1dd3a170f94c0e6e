// Shared by the tests of the example data types: a temporary directory for data files, a
// char tokenizer over a chosen alphabet, the warnings the data types log, and the epoch and
// resume checks every type must pass.
#pragma once

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "datasets/examples.h"
#include "tests/support/user_error.h"
#include "tokenizers/char.h"

namespace zoo::testing {

class ExampleDataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::temp_directory_path() /
           ("zoo_test_" + std::string(test->test_suite_name()) + "_" + test->name() + "_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(log_);
    sink->set_pattern("%v");
    previous_logger_ = spdlog::default_logger();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("test", sink));
  }
  void TearDown() override {
    spdlog::set_default_logger(previous_logger_);
    std::filesystem::remove_all(dir_);
  }

  std::string write(const std::string& name, const std::string& bytes) {
    std::ofstream(dir_ / name, std::ios::binary) << bytes;
    return (dir_ / name).string();
  }
  // What the data types logged so far (one message a line), then forgets it.
  std::string take_log() {
    std::string text = log_.str();
    log_.str("");
    return text;
  }

  std::filesystem::path dir_;
  std::ostringstream log_;
  std::shared_ptr<spdlog::logger> previous_logger_;
};

// Ids: 0 <unk>, then `specials` from 1 in order, then the characters of `alphabet` sorted.
inline std::shared_ptr<tokenizers::CharTokenizer> char_tokenizer(const std::string& alphabet,
                                                                 std::vector<tokenizers::Special> specials) {
  return tokenizers::CharTokenizer::fit(alphabet, "alphabet", std::move(specials));
}

inline std::string user_error(const std::function<void()>& f) { return user_error_of(f); }

// A (rows, columns) int64 tensor, written as the rows it has.
inline torch::Tensor matrix(const std::vector<std::vector<int64_t>>& rows) {
  std::vector<torch::Tensor> list;
  for (const auto& row : rows) list.push_back(torch::tensor(row, torch::kInt64));
  return torch::stack(list);
}
inline torch::Tensor bools(const std::vector<std::vector<int64_t>>& rows) { return matrix(rows).to(torch::kBool); }
inline torch::Tensor vector(const std::vector<int64_t>& values) { return torch::tensor(values, torch::kInt64); }

#define EXPECT_TENSOR_EQ(actual, expected)                                                              \
  do {                                                                                                  \
    const torch::Tensor actual_ = (actual), expected_ = (expected);                                    \
    EXPECT_TRUE(actual_.scalar_type() == expected_.scalar_type() && actual_.sizes() == expected_.sizes() && \
                torch::equal(actual_, expected_))                                                       \
        << "actual:\n" << actual_ << "\nexpected:\n" << expected_;                                      \
  } while (0)

// One string per row of `t` (B, ...), to compare batches and count examples.
inline std::vector<std::string> row_keys(const torch::Tensor& t) {
  std::vector<std::string> keys;
  for (int64_t b = 0; b < t.size(0); ++b) {
    std::ostringstream key;
    torch::Tensor row = t[b].flatten().to(torch::kInt64);
    for (int64_t i = 0; i < row.numel(); ++i) key << row[i].item<int64_t>() << ' ';
    keys.push_back(key.str());
  }
  return keys;
}

// The rows of a batch as strings, one per example (each type says how to read its batch).
template <class Data>
using RowsOf = std::function<std::vector<std::string>(const typename Data::batch_type&)>;

// The examples of `n` draws of `batch_size`-sized training batches, in order.
template <class Data>
std::vector<std::string> draw(Data& data, const RowsOf<Data>& rows, int64_t n, int64_t batch_size) {
  std::vector<std::string> drawn;
  while (static_cast<int64_t>(drawn.size()) < n) {
    for (auto& row : rows(data.next_train_batch(batch_size))) drawn.push_back(row);
  }
  drawn.resize(n);
  return drawn;
}

// Train examples must be distinct: each epoch then visits every one exactly once (n draws, n
// different rows), in another order each epoch and for another seed, the same for the same seed.
template <class Data>
void expect_shuffled_epochs(const std::function<std::shared_ptr<Data>(uint64_t seed)>& make, const RowsOf<Data>& rows) {
  auto data = make(1);
  const int64_t n = data->train_size();
  ASSERT_GE(n, 8);
  // Batches of 1 keep the epochs apart exactly.
  const std::vector<std::string> epoch0 = draw(*data, rows, n, 1);
  const std::vector<std::string> epoch1 = draw(*data, rows, n, 1);
  EXPECT_EQ(data->epoch(), 1);
  const std::set<std::string> seen0(epoch0.begin(), epoch0.end()), seen1(epoch1.begin(), epoch1.end());
  EXPECT_EQ(static_cast<int64_t>(seen0.size()), n);
  EXPECT_EQ(seen0, seen1);
  EXPECT_NE(epoch0, epoch1);
  auto same_seed = make(1), other_seed = make(2);
  EXPECT_EQ(draw(*same_seed, rows, n, 1), epoch0);
  const std::vector<std::string> other = draw(*other_seed, rows, n, 1);
  EXPECT_EQ(std::set<std::string>(other.begin(), other.end()), seen0);
  EXPECT_NE(other, epoch0);
}

// A dataset restored from state() mid-epoch gives the same batches as the one that went on,
// across the epoch boundary too, whatever seed it was built with.
template <class Data>
void expect_exact_resume(const std::function<std::shared_ptr<Data>(uint64_t seed)>& make, const RowsOf<Data>& rows) {
  auto data = make(5);
  const int64_t n = data->train_size();
  draw(*data, rows, n / 2 + 1, 1);  // mid-epoch
  const std::string state = data->state();
  std::vector<std::vector<std::string>> expected;
  for (int i = 0; i < 4; ++i) expected.push_back(rows(data->next_train_batch(3)));  // 12 > n/2: into epoch 1
  EXPECT_EQ(data->epoch(), 1);
  auto resumed = make(999);
  resumed->load_state(state);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(rows(resumed->next_train_batch(3)), expected[i]) << "batch " << i;
  EXPECT_EQ(resumed->state(), data->state());
}

}  // namespace zoo::testing
