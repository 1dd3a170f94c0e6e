// Intra-op threads for the length of a scope. A test process starts with one (libtorch 1.13
// here), so a test of a parallel path sets two, or its chunks all run on one thread.
#pragma once

#include <ATen/Parallel.h>

namespace zoo::testing {

class ScopedThreads {
 public:
  explicit ScopedThreads(int threads) : before_(at::get_num_threads()) { at::set_num_threads(threads); }
  ~ScopedThreads() { at::set_num_threads(before_); }
  ScopedThreads(const ScopedThreads&) = delete;
  ScopedThreads& operator=(const ScopedThreads&) = delete;

 private:
  int before_;
};

}  // namespace zoo::testing
