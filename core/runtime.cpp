#include "core/runtime.h"

#include <ATen/Context.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <dlfcn.h>
#include <sched.h>
#include <unistd.h>

#include <cstdlib>
#include <thread>

#include "core/cpu_allocator.h"
#include "core/error.h"

namespace zoo {

void prepare_process(char** argv) {
  if (const char* allocator = std::getenv("ZOO_CPU_ALLOCATOR"); !allocator || std::string(allocator) != "system")
    install_caching_cpu_allocator();
  if (std::getenv("OMP_WAIT_POLICY") != nullptr) return;
  ::setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
  ::execv("/proc/self/exe", argv);
  // execv returned: no /proc (or no permission); carry on with the spinning default.
}

torch::Device select_device(const std::string& spec) {
  if (spec == "auto") return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  if (spec == "cpu") return torch::kCPU;
  torch::Device device(spec);
  if (!torch::cuda::is_available())
    throw UserError("device: '" + spec + "' requested but this machine has no usable CUDA device (use device: auto or cpu)");
  if (device.has_index() && device.index() >= static_cast<int>(torch::cuda::device_count()))
    throw UserError("device: '" + spec + "' requested but only " + std::to_string(torch::cuda::device_count()) +
                    " CUDA device(s) are visible");
  return device;
}

int configure_threads(int64_t recipe_threads) {
  int threads = static_cast<int>(recipe_threads);
  if (threads <= 0) {
    if (const char* env = std::getenv("OMP_NUM_THREADS"); env && std::atoi(env) > 0) {
      threads = std::atoi(env);
    } else {
      cpu_set_t set;
      threads = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set)
                                                             : static_cast<int>(std::thread::hardware_concurrency());
    }
  }
  threads = std::max(threads, 1);
  at::set_num_threads(threads);
  set_blas_threads(threads);
  return threads;
}

void set_blas_threads(int threads) {
  // OpenBLAS's pthreads build (what setup.sh installs) keeps a pool of its own, one thread a
  // core, that at::set_num_threads does not reach: `threads: 1` would still run every matrix
  // product on all cores (measured: 1024^3 sgemm at 205 GFLOP/s with 1 thread set, 102 once
  // OpenBLAS is told too), and ranks of a data-parallel run would fight over them.
  using SetThreads = void (*)(int);
  static const auto set = reinterpret_cast<SetThreads>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  if (set) set(threads);
}

SingleThreadedBlas::~SingleThreadedBlas() { set_blas_threads(at::get_num_threads()); }

void seed_everything(uint64_t seed) { torch::manual_seed(seed); }

std::vector<torch::Tensor> rng_states(const torch::Device& device) {
  // Generators are shared handles: a copy reads and sets the process-wide state.
  at::Generator cpu = at::detail::getDefaultCPUGenerator();
  std::vector<torch::Tensor> states{cpu.get_state()};
  if (device.is_cuda()) {
    at::Generator cuda = at::globalContext().defaultGenerator(device);
    states.push_back(cuda.get_state());
  }
  return states;
}

void set_rng_states(const std::vector<torch::Tensor>& states, const torch::Device& device) {
  if (states.empty()) return;
  at::Generator cpu = at::detail::getDefaultCPUGenerator();
  cpu.set_state(states[0]);
  if (device.is_cuda() && states.size() > 1) {
    at::Generator cuda = at::globalContext().defaultGenerator(device);
    cuda.set_state(states[1]);
  }
}

void log_to_stderr() {
  auto logger = spdlog::stderr_color_mt("zoo-stderr");
  logger->set_level(spdlog::default_logger()->level());
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%H:%M:%S %v");
}

}  // namespace zoo
