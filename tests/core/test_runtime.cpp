// parallel_for_here: chunks really run on several threads (ATen's parallel_for forks only in files
// compiled with OpenMP, which once went unnoticed), and each chunk sees the caller's grad mode.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "core/runtime.h"
#include "tests/support/threads.h"

TEST(ParallelForHere, SplitsTheRangeBetweenThreadsAndKeepsTheCallersGradMode) {
  zoo::testing::ScopedThreads two(2);
  std::mutex mutex;
  std::set<std::thread::id> workers;
  std::vector<int> covered(8, 0);
  int chunks_with_grad_mode = 0;
  {
    torch::NoGradGuard no_grad;
    zoo::parallel_for_here(0, 8, 4, [&](int64_t begin, int64_t end) {
      std::lock_guard<std::mutex> lock(mutex);
      workers.insert(std::this_thread::get_id());
      for (int64_t i = begin; i < end; ++i) ++covered[i];
      chunks_with_grad_mode += torch::GradMode::is_enabled();
    });
  }
  EXPECT_EQ(workers.size(), 2u) << "the two chunks ran on one thread: is the file compiled with OpenMP?";
  EXPECT_EQ(covered, std::vector<int>(8, 1));
  EXPECT_EQ(chunks_with_grad_mode, 0);  // OpenMP's worker starts with gradients on
}
