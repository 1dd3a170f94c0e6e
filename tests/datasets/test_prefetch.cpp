// datasets::Prefetcher: batches drawn one step ahead come out in the order a plain loop would
// draw them, and the position it reports is the one before the batch drawn ahead.
#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>

#include "datasets/prefetch.h"

namespace zoo::datasets {
namespace {

// A dataset whose batches are the next integers: its state is the next one it would hand out.
class CountingDataset : public Dataset {
 public:
  std::string state() const override { return std::to_string(next_); }
  void load_state(const std::string& state) override { next_ = std::stoll(state); }
  std::string describe() const override { return "counting"; }

  LMBatch draw(int64_t batch_size) {
    if (fail_at >= 0 && next_ >= fail_at) throw std::runtime_error("data: a malformed line");
    auto input = torch::arange(next_, next_ + batch_size, torch::kInt64);
    next_ += batch_size;
    draw_thread = std::this_thread::get_id();
    return {input, input + 1};
  }

  int64_t fail_at = -1;
  std::atomic<std::thread::id> draw_thread;

 private:
  int64_t next_ = 0;
};

Prefetcher<LMBatch> counting(CountingDataset& data) {
  return Prefetcher<LMBatch>(data, [&data](int64_t n) { return data.draw(n); }, torch::Device(torch::kCPU));
}

int64_t first(const LMBatch& batch) { return batch.input[0].item<int64_t>(); }

TEST(Prefetcher, HandsOutTheBatchesInTheOrderTheDatasetDrawsThemAndDrawsAheadOnAnotherThread) {
  CountingDataset data;
  auto batches = counting(data);
  for (int64_t step = 0; step < 5; ++step) {
    auto batch = batches.next(3);
    EXPECT_EQ(first(batch), 3 * step);
    EXPECT_EQ(batch.input.size(0), 3);
    // The checkpoint's position: after the batches handed out, before the one drawn ahead.
    EXPECT_EQ(batches.state(), std::to_string(3 * (step + 1)));
  }
  batches.next(3);  // waits for the batch drawn ahead, which the thread drew
  EXPECT_NE(data.draw_thread.load(), std::this_thread::get_id());
}

TEST(Prefetcher, AResumedRunDrawsWhatTheUninterruptedOneDraws) {
  CountingDataset uninterrupted_data;
  auto uninterrupted = counting(uninterrupted_data);
  std::vector<int64_t> expected;
  for (int i = 0; i < 6; ++i) expected.push_back(first(uninterrupted.next(2)));

  CountingDataset interrupted_data;
  std::string checkpoint;
  {
    auto interrupted = counting(interrupted_data);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(first(interrupted.next(2)), expected[i]);
    checkpoint = interrupted.state();  // a batch is in flight; the checkpoint is before it
  }
  CountingDataset resumed_data;
  auto resumed = counting(resumed_data);
  resumed.load_state(checkpoint);
  for (int i = 3; i < 6; ++i) EXPECT_EQ(first(resumed.next(2)), expected[i]);
}

TEST(Prefetcher, ABatchOfAnotherSizeIsDrawnAgainFromWhereTheOneAheadStarted) {
  CountingDataset data;
  auto batches = counting(data);
  EXPECT_EQ(first(batches.next(4)), 0);
  auto other = batches.next(2);  // 4..7 was drawn ahead for size 4: it is put back
  EXPECT_EQ(first(other), 4);
  EXPECT_EQ(other.input.size(0), 2);
  EXPECT_EQ(first(batches.next(2)), 6);
}

TEST(Prefetcher, AnErrorDrawingAheadIsThrownByTheNextCall) {
  CountingDataset data;
  data.fail_at = 4;
  auto batches = counting(data);
  EXPECT_EQ(first(batches.next(2)), 0);
  EXPECT_EQ(first(batches.next(2)), 2);  // the thread now fails drawing 4..5
  EXPECT_EQ(batches.state(), "4");
  EXPECT_THROW(batches.next(2), std::runtime_error);
}

}  // namespace
}  // namespace zoo::datasets
