// Data-parallel processes on torch.distributed's c10d: the process group a run joins from
// torchrun's environment contract, and the collectives the trainer needs.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

namespace zoo::distributed {

// Where this process stands: rank 0 of 1 unless it was started with torchrun's environment
// (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), as `zoo launch`
// and torchrun start their workers.
struct World {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int local_world_size = 1;
  std::string master_addr;
  int master_port = 0;

  bool distributed() const { return world_size > 1; }
};

// The environment's world; a UserError naming the variable when one is malformed or missing.
World world_from_environment();

// This process's world, read from the environment once.
const World& world();

// The process group of this process's world: Gloo for CPU tensors, NCCL for CUDA tensors where
// the libtorch has it. Every collective blocks until done and fails (a UserError naming the
// rank and the operation) when a peer is gone past the timeout.
class ProcessGroup {
 public:
  ProcessGroup(const World& world, const torch::Device& device, double timeout_s);
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int rank() const;
  int size() const;

  // Every tensor becomes rank `root`'s.
  void broadcast(std::vector<torch::Tensor> tensors, int root = 0);
  // Every tensor becomes the mean over ranks, moved in flat buckets of about `bucket_bytes` so a
  // model of many small parameters costs few round trips. Returns the bytes each rank sent.
  int64_t all_reduce_mean(const std::vector<torch::Tensor>& tensors, int64_t bucket_bytes = 25 << 20);
  // Sums of host numbers over ranks (logged metrics, token counts).
  std::vector<double> all_reduce_sum(const std::vector<double>& values);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// The group of this process's world, joined on first use; null when the world is one process.
ProcessGroup* process_group(const torch::Device& device, double timeout_s);

}  // namespace zoo::distributed
