// Where and how a run computes: device choice, CPU threads, seeding and RNG state.
#pragma once

#include <torch/torch.h>

#include <string>

namespace zoo {

// "auto" picks CUDA when present. Asking for a CUDA device that is not there is a UserError.
torch::Device select_device(const std::string& spec);

// Threads from the recipe if > 0, else OMP_NUM_THREADS, else every core this process may use.
// Returns the number set.
int configure_threads(int64_t recipe_threads);

void seed_everything(uint64_t seed);

// The default generators' states (CPU, and `device` when it is CUDA), for exact resume.
std::vector<torch::Tensor> rng_states(const torch::Device& device);
void set_rng_states(const std::vector<torch::Tensor>& states, const torch::Device& device);

}  // namespace zoo
