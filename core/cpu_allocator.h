// A caching allocator for large CPU tensors, as PyTorch's CUDA caching allocator is for GPU memory.
#pragma once

#include <cstddef>

namespace zoo {

// glibc serves every block above 32 MiB with its own mmap and unmaps it on free, so each training
// step's large activations (attention scores: B*H*T*T floats) arrive as fresh pages the kernel
// must fault in and zero (a GPT shakespeare_char step: 14.6 s with them, 11.7 s with this;
// bench/NOTES.md). Disabling mmap in glibc instead fragments its heap (peak RSS 6.6 GB against
// 4.9 GB, measured). This keeps
// freed blocks of 1 MiB and more for the next request of about their size (a block serves
// requests of 75% of its size and up), and gives back cached blocks when a request misses while
// they exceed a quarter of the bytes in use, so a run whose shapes change (variable-length
// batches) does not hoard the sizes it no longer asks for. Smaller blocks go to libtorch's own
// allocator, from glibc's heap, which this tells to keep its freed memory rather than give it
// back to the kernel each step. Installed once per process, from prepare_process.
void install_caching_cpu_allocator();

struct CachingAllocatorStats {
  size_t in_use = 0;       // bytes handed out and not yet freed
  size_t cached = 0;       // bytes held free for reuse
  size_t peak_in_use = 0;  // the most in_use ever was
  size_t hits = 0, misses = 0;
};
// Zeros when the allocator is not installed.
CachingAllocatorStats caching_allocator_stats();

}  // namespace zoo
