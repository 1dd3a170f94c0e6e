// The caching CPU allocator: large blocks come back for the next request of their size, small
// ones pass through, raw allocations work, and the bytes in use return to where they were.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <sys/resource.h>

#include <cstring>
#include <vector>

#include <c10/core/CPUAllocator.h>

#include "core/cpu_allocator.h"

TEST(CachingCpuAllocator, ReusesLargeBlocksAndAccountsForEveryByte) {
  zoo::install_caching_cpu_allocator();
  const auto before = zoo::caching_allocator_stats();
  void* first = nullptr;
  {
    auto big = torch::empty({4 << 20}, torch::kFloat);  // 16 MiB
    first = big.data_ptr();
    EXPECT_EQ(zoo::caching_allocator_stats().in_use, before.in_use + (size_t{16} << 20));
  }
  const auto freed = zoo::caching_allocator_stats();
  EXPECT_EQ(freed.in_use, before.in_use);
  EXPECT_GE(freed.cached, size_t{16} << 20);
  {
    auto again = torch::empty({4 << 20}, torch::kFloat);  // the same block, no new pages
    EXPECT_EQ(again.data_ptr(), first);
    EXPECT_EQ(zoo::caching_allocator_stats().hits, freed.hits + 1);
  }
  {
    auto three_quarters = torch::empty({3 << 20}, torch::kFloat);  // 12 MiB: the 16 MiB block serves it
    EXPECT_EQ(three_quarters.data_ptr(), first);
  }
  {
    // 4 MiB would waste most of it: a new block (which glibc may place where the released one was,
    // so the count says it, not the address).
    const auto misses = zoo::caching_allocator_stats().misses;
    auto quarter = torch::empty({1 << 20}, torch::kFloat);
    EXPECT_EQ(zoo::caching_allocator_stats().misses, misses + 1);
  }
  {
    auto small = torch::empty({1000}, torch::kFloat);  // below 1 MiB: libtorch's own allocator
    EXPECT_EQ(zoo::caching_allocator_stats().in_use, before.in_use);
  }
  // raw_allocate / raw_deallocate, which some kernels use for scratch space, large and small.
  auto* allocator = c10::GetCPUAllocator();
  for (size_t bytes : {size_t{2} << 20, size_t{512}}) {
    void* p = allocator->raw_allocate(bytes);
    ASSERT_NE(p, nullptr);
    std::memset(p, 1, bytes);
    allocator->raw_deallocate(p);
  }
  EXPECT_EQ(zoo::caching_allocator_stats().in_use, before.in_use);
  // Tensors computed through it are ordinary tensors.
  auto a = torch::randn({512, 1024}), b = torch::randn({1024, 512});
  EXPECT_TRUE(torch::allclose(torch::mm(a, b), torch::mm(a.to(torch::kDouble), b.to(torch::kDouble)).to(torch::kFloat),
                              1e-3, 1e-3));
}

// Blocks below 1 MiB come from glibc's heap, which must keep what is freed: two more rounds of the
// same 51 MB of them (12,500 pages a round) faulted 1,950 pages in here, and 17,548 with glibc's
// default of trimming the heap's free top.
TEST(CachingCpuAllocator, KeepsTheHeapsFreedPagesForTheNextStep) {
#ifdef __SANITIZE_ADDRESS__
  GTEST_SKIP() << "AddressSanitizer's allocator stands in for glibc's heap";
#endif
  zoo::install_caching_cpu_allocator();
  auto one_step = [] {
    std::vector<torch::Tensor> blocks;
    for (int i = 0; i < 64; ++i) blocks.push_back(torch::ones({200'000}));  // 800 KB each, every page written
  };
  auto minor_faults = [] {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_minflt;
  };
  one_step();
  const auto before = minor_faults();
  one_step();
  one_step();
  EXPECT_LT(minor_faults() - before, 5000);
}
