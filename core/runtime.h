// Where and how a run computes: device choice, CPU threads, seeding and RNG state.
#pragma once

#include <ATen/Parallel.h>
#include <ATen/ThreadLocalState.h>
#include <torch/torch.h>

#include <string>

namespace zoo {

// Call first thing in main(); it tunes two process-wide things that must be set before the
// first tensor:
// - libgomp's idle workers spin for a while after every parallel region; on a small machine they
//   take the cores from OpenBLAS's own threads during the matrix products (2.3x slower training
//   steps measured on 2 cores). libgomp reads OMP_WAIT_POLICY once, when it loads, so a process
//   that wants PASSIVE must have it in its environment from the start: this sets it and
//   re-executes the program once. A policy the user set is respected.
// - large CPU blocks come from a caching allocator (core/cpu_allocator.h) rather than a fresh
//   mmap each time, whose page faults made a GPT training step 1.25x slower here.
//   ZOO_CPU_ALLOCATOR=system keeps libtorch's own (for comparison).
void prepare_process(char** argv);

// "auto" picks CUDA when present. Asking for a CUDA device that is not there is a UserError.
torch::Device select_device(const std::string& spec);

// Threads from the recipe if > 0, else OMP_NUM_THREADS, else every core this process may use.
// Returns the number set.
int configure_threads(int64_t recipe_threads);

// OpenBLAS's thread count (its pthreads pool does not follow at::set_num_threads, so
// configure_threads sets both); nothing without OpenBLAS.
void set_blas_threads(int threads);

// One BLAS thread for the length of a scope, then at::get_num_threads() again: for code that
// runs its small products in parallel itself, one whole product per thread.
class SingleThreadedBlas {
 public:
  SingleThreadedBlas() { set_blas_threads(1); }
  ~SingleThreadedBlas();
  SingleThreadedBlas(const SingleThreadedBlas&) = delete;
  SingleThreadedBlas& operator=(const SingleThreadedBlas&) = delete;
};

// at::parallel_for with the calling thread's autograd and dispatch state in every chunk. OpenMP's
// workers keep their own (gradients on), so tensor ops that a chunk runs inside an autograd
// Function's forward would record a graph there, or refuse an out= argument that requires grad.
template <typename Body>
void parallel_for_here(int64_t begin, int64_t end, int64_t grain, const Body& body) {
  const at::ThreadLocalState caller;
  at::parallel_for(begin, end, grain, [&](int64_t chunk_begin, int64_t chunk_end) {
    at::ThreadLocalStateGuard same_state(caller);
    body(chunk_begin, chunk_end);
  });
}

void seed_everything(uint64_t seed);

// For commands whose standard output is data (--json): the log lines go to standard error, so
// that `zoo eval RUN --json | jq` reads one JSON object.
void log_to_stderr();

// The default generators' states (CPU, and `device` when it is CUDA), for exact resume.
std::vector<torch::Tensor> rng_states(const torch::Device& device);
void set_rng_states(const std::vector<torch::Tensor>& states, const torch::Device& device);

}  // namespace zoo
