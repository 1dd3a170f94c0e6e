#include "core/cpu_allocator.h"

#include <c10/core/CPUAllocator.h>
#include <malloc.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <new>
#include <unordered_map>

namespace zoo {
namespace {

constexpr size_t kMinCached = size_t{1} << 20;  // smaller blocks: glibc's heap serves them well
constexpr size_t kAlignment = 64;               // what libtorch's own CPU allocator guarantees
constexpr size_t kPage = 4096;

class CachingCPUAllocator final : public c10::Allocator {
 public:
  explicit CachingCPUAllocator(c10::Allocator* fallback) : fallback_(fallback) {}

  c10::DataPtr allocate(size_t n) const override {
    if (n < kMinCached) return fallback_->allocate(n);
    const size_t size = (n + kPage - 1) / kPage * kPage;
    std::lock_guard<std::mutex> lock(mutex_);
    auto [data, block_size] = take_cached(size);
    if (data) {
      ++stats_.hits;
    } else {
      ++stats_.misses;
      release_cached(stats_.in_use / 4);
      block_size = size;
      data = std::aligned_alloc(kAlignment, size);
      if (!data) {
        release_cached(0);  // out of memory: everything cached goes back, then one more try
        data = std::aligned_alloc(kAlignment, size);
        if (!data) throw std::bad_alloc();
      }
    }
    in_use_[data] = block_size;
    stats_.in_use += block_size;
    stats_.peak_in_use = std::max(stats_.peak_in_use, stats_.in_use);
    // The context is the data pointer itself, as raw_allocate/raw_deallocate require.
    return {data, data, &CachingCPUAllocator::give_back, c10::Device(c10::DeviceType::CPU)};
  }

  c10::DeleterFnPtr raw_deleter() const override { return &CachingCPUAllocator::give_back; }

  // PyTorch 2.x declares it pure virtual (an override there); 1.13 does not have it.
  void copy_data(void* dest, const void* src, std::size_t count) const { std::memcpy(dest, src, count); }

  CachingAllocatorStats stats() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
  }

  static CachingCPUAllocator* instance;

 private:
  // Every block this allocator hands out, large (cached here) or small (the fallback's, reaching
  // here only through raw_deallocate), is freed through this.
  static void give_back(void* data) { instance->cache(data); }

  void cache(void* data) const {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = in_use_.find(data);
      if (it != in_use_.end()) {
        stats_.in_use -= it->second;
        stats_.cached += it->second;
        free_.emplace(it->second, data);
        in_use_.erase(it);
        return;
      }
    }
    fallback_->raw_deleter()(data);
  }

  // The smallest cached block that holds `size` without wasting more than a quarter of itself;
  // {nullptr, 0} if none.
  std::pair<void*, size_t> take_cached(size_t size) const {
    auto it = free_.lower_bound(size);
    if (it == free_.end() || it->first - it->first / 4 > size) return {nullptr, 0};
    std::pair<void*, size_t> block{it->second, it->first};
    free_.erase(it);
    stats_.cached -= block.second;
    return block;
  }

  // Frees cached blocks, largest first, until at most `keep` bytes stay cached.
  void release_cached(size_t keep) const {
    while (stats_.cached > keep && !free_.empty()) {
      auto last = std::prev(free_.end());
      stats_.cached -= last->first;
      std::free(last->second);
      free_.erase(last);
    }
  }

  c10::Allocator* fallback_;
  mutable std::mutex mutex_;
  mutable std::multimap<size_t, void*> free_;          // size -> cached block
  mutable std::unordered_map<void*, size_t> in_use_;  // block -> size
  mutable CachingAllocatorStats stats_;
};

CachingCPUAllocator* CachingCPUAllocator::instance = nullptr;

}  // namespace

void install_caching_cpu_allocator() {
  if (CachingCPUAllocator::instance) return;
  // What this allocator does not cache, glibc's heap serves, and by default it hands the freed top
  // of a heap back to the kernel, so a run whose shapes change every step (bucketed batches)
  // faults the same memory in again and again: 2,300 page faults a seq2seq bench step, 45 with
  // the heap kept (bench/NOTES.md section 7). Setting the trim threshold turns off glibc's
  // adjustment of the mmap threshold too, so that one is fixed at the ceiling the adjustment
  // would reach (32 MiB); blocks above it are mapped on their own and cached here.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max());
  // Never destroyed: tensors outlive static destruction at exit.
  CachingCPUAllocator::instance = new CachingCPUAllocator(c10::GetDefaultCPUAllocator());
  c10::SetCPUAllocator(CachingCPUAllocator::instance, /*priority=*/1);
}

CachingAllocatorStats caching_allocator_stats() {
  return CachingCPUAllocator::instance ? CachingCPUAllocator::instance->stats() : CachingAllocatorStats{};
}

}  // namespace zoo
