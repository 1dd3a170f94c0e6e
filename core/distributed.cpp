#include "core/distributed.h"

#include <fmt/format.h>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <chrono>
#include <cstdlib>
#include <optional>

#include "core/error.h"

namespace zoo::distributed {
namespace {

std::optional<std::string> variable(const char* name) {
  const char* value = std::getenv(name);
  if (!value || !*value) return std::nullopt;
  return std::string(value);
}

int integer(const char* name, int fallback, int minimum) {
  auto value = variable(name);
  if (!value) return fallback;
  char* end = nullptr;
  const long parsed = std::strtol(value->c_str(), &end, 10);
  if (*end != '\0' || parsed < minimum || parsed > 1 << 20)
    throw UserError(fmt::format("environment: {}={} is not a whole number of at least {} (torchrun's contract: RANK, "
                                "WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT)",
                                name, *value, minimum));
  return static_cast<int>(parsed);
}

}  // namespace

World world_from_environment() {
  World w;
  w.world_size = integer("WORLD_SIZE", 1, 1);
  if (w.world_size == 1) return w;
  w.rank = integer("RANK", -1, 0);
  if (w.rank < 0 || w.rank >= w.world_size)
    throw UserError(fmt::format("environment: WORLD_SIZE={} needs a RANK in 0..{} (start ranks with zoo launch)",
                                w.world_size, w.world_size - 1));
  w.local_rank = integer("LOCAL_RANK", 0, 0);
  w.local_world_size = integer("LOCAL_WORLD_SIZE", 1, 1);
  w.master_addr = variable("MASTER_ADDR").value_or("");
  w.master_port = integer("MASTER_PORT", 0, 1);
  if (w.master_addr.empty() || w.master_port <= 0 || w.master_port > 65535)
    throw UserError(fmt::format("environment: WORLD_SIZE={} needs MASTER_ADDR and MASTER_PORT (1..65535), where rank "
                                "0 listens (start ranks with zoo launch)",
                                w.world_size));
  return w;
}

const World& world() {
  static const World w = world_from_environment();
  return w;
}

struct ProcessGroup::State {
  World world;
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo;
#ifdef USE_C10D_NCCL
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl;
#endif

  template <class Operation>
  void wait(const char* what, Operation&& operation) {
    try {
      c10::intrusive_ptr<c10d::Work> work;
#ifdef USE_C10D_NCCL
      if (nccl) work = operation(*nccl);
      else
#endif
        work = operation(*gloo);
      work->wait();
    } catch (const std::exception& e) {
      const std::string message = e.what();
      throw UserError(fmt::format("rank {}: {} across {} ranks failed: {} (did another rank stop? see its output)",
                                  world.rank, what, world.world_size, message.substr(0, message.find('\n'))));
    }
  }
};

ProcessGroup::ProcessGroup(const World& world, const torch::Device& device, double timeout_s)
    : state_(std::make_unique<State>()) {
  state_->world = world;
  const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000));
  try {
    c10d::TCPStoreOptions options;
    options.port = static_cast<uint16_t>(world.master_port);
    options.isServer = world.rank == 0;
    options.numWorkers = static_cast<size_t>(world.world_size);
    options.waitWorkers = true;
    options.timeout = timeout;
    state_->store = c10::make_intrusive<c10d::TCPStore>(world.master_addr, options);
    if (device.is_cuda()) {
#ifdef USE_C10D_NCCL
      auto nccl_options = c10d::ProcessGroupNCCL::Options::create();
      nccl_options->timeout = timeout;
      state_->nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(state_->store, world.rank, world.world_size, nccl_options);
      return;
#else
      throw UserError("distributed: this libtorch has no NCCL; CUDA runs across processes need a CUDA build with it");
#endif
    }
    auto gloo_options = c10d::ProcessGroupGloo::Options::create(timeout);
    // Where Gloo listens for its peers: the interface GLOO_SOCKET_IFNAME names (torch's own
    // variable), the loopback when every rank is on this host, else the host name's address.
    if (auto interface = variable("GLOO_SOCKET_IFNAME"))
      gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(*interface));
    else if (world.master_addr == "127.0.0.1" || world.master_addr == "localhost")
      gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    else
      gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    state_->gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(state_->store, world.rank, world.world_size, gloo_options);
  } catch (const UserError&) {
    throw;
  } catch (const std::exception& e) {
    const std::string message = e.what();
    throw UserError(fmt::format("rank {}: cannot join the process group at {}:{} ({}); check MASTER_ADDR/MASTER_PORT "
                                "and that every rank started",
                                world.rank, world.master_addr, world.master_port, message.substr(0, message.find('\n'))));
  }
}

ProcessGroup::~ProcessGroup() = default;

int ProcessGroup::rank() const { return state_->world.rank; }
int ProcessGroup::size() const { return state_->world.world_size; }

void ProcessGroup::broadcast(std::vector<torch::Tensor> tensors, int root) {
  for (auto& tensor : tensors) {
    std::vector<torch::Tensor> one{tensor};
    c10d::BroadcastOptions options;
    options.rootRank = root;
    state_->wait("broadcast", [&](auto& group) { return group.broadcast(one, options); });
  }
}

int64_t ProcessGroup::all_reduce_mean(const std::vector<torch::Tensor>& tensors, int64_t bucket_bytes) {
  int64_t sent = 0;
  size_t begin = 0;
  while (begin < tensors.size()) {
    // One bucket: consecutive tensors of one dtype and device up to bucket_bytes, flattened.
    size_t end = begin;
    int64_t bytes = 0;
    while (end < tensors.size() && (end == begin || (bytes < bucket_bytes && tensors[end].options().type_equal(
                                                                                 tensors[begin].options())))) {
      bytes += static_cast<int64_t>(tensors[end].numel() * tensors[end].element_size());
      ++end;
    }
    std::vector<torch::Tensor> flat_parts;
    for (size_t i = begin; i < end; ++i) flat_parts.push_back(tensors[i].reshape({-1}));
    std::vector<torch::Tensor> bucket{torch::cat(flat_parts)};
    state_->wait("all-reduce", [&](auto& group) { return group.allreduce(bucket); });
    bucket[0].div_(size());
    int64_t offset = 0;
    for (size_t i = begin; i < end; ++i) {
      const int64_t n = tensors[i].numel();
      tensors[i].copy_(bucket[0].narrow(0, offset, n).view_as(tensors[i]));
      offset += n;
    }
    sent += bytes;
    begin = end;
  }
  return sent;
}

std::vector<double> ProcessGroup::all_reduce_sum(const std::vector<double>& values) {
  std::vector<torch::Tensor> tensor{torch::tensor(values, torch::kFloat64)};
#ifdef USE_C10D_NCCL
  if (state_->nccl) tensor[0] = tensor[0].cuda();
#endif
  state_->wait("all-reduce", [&](auto& group) { return group.allreduce(tensor); });
  auto host = tensor[0].cpu();
  return {host.data_ptr<double>(), host.data_ptr<double>() + host.numel()};
}

ProcessGroup* process_group(const torch::Device& device, double timeout_s) {
  static std::unique_ptr<ProcessGroup> group;
  if (!world().distributed()) return nullptr;
  if (!group) group = std::make_unique<ProcessGroup>(world(), device, timeout_s);
  return group.get();
}

}  // namespace zoo::distributed
