#include "cli/launch.h"

#include <fmt/format.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <thread>

#include "core/error.h"

namespace zoo::cli {
namespace {

// The ranks' process ids, for the signal handler to forward SIGINT/SIGTERM to.
constexpr int kMaxRanks = 1024;
pid_t children[kMaxRanks];
std::atomic<int> child_count{0};
std::atomic<int> forwarded_signal{0};

void forward_signal(int signal) {
  forwarded_signal = signal;
  for (int i = 0; i < child_count; ++i)
    if (children[i] > 0) ::kill(children[i], signal);
}

// Copies a rank's output to ours line by line, each line prefixed with the rank.
void relay(int fd, int rank, std::mutex& out) {
  FILE* in = ::fdopen(fd, "r");
  char* line = nullptr;
  size_t capacity = 0;
  ssize_t length;
  while ((length = ::getline(&line, &capacity, in)) > 0) {
    std::lock_guard<std::mutex> lock(out);
    std::fprintf(stdout, "[rank %d] %.*s%s", rank, static_cast<int>(length), line,
                 line[length - 1] == '\n' ? "" : "\n");
    std::fflush(stdout);
  }
  std::free(line);
  std::fclose(in);
}

int exit_code_of(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }

// A port no one listens on now: the kernel's pick for a socket bound to port 0.
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  int port = 29500;
  if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0)
    port = ntohs(address.sin_port);
  if (fd >= 0) ::close(fd);
  return port;
}

}  // namespace

CLI::App* LaunchCommand::add_to(CLI::App& app) {
  auto* launch = app.add_subcommand(
      "launch", "start data-parallel ranks of a zoo command: zoo launch --nproc 2 -- train RECIPE.yaml");
  launch->add_option("--nproc", nproc, "ranks on this host")->check(CLI::Range(1, kMaxRanks))->capture_default_str();
  launch->add_option("--nnodes", nnodes, "hosts in all, each running zoo launch")->check(CLI::PositiveNumber)
      ->capture_default_str();
  launch->add_option("--node-rank", node_rank, "this host's number, 0 .. nnodes-1")->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  launch->add_option("--master-addr", master_addr, "the address of node 0, where rank 0 listens")->capture_default_str();
  launch->add_option("--master-port", master_port,
                     "its port (default: a free one when every rank is on this host, else 29500)")
      ->check(CLI::Range(1, 65535));
  launch->add_option("command", command, "the zoo command every rank runs, after --")->required();
  return launch;
}

int LaunchCommand::run(const std::string& self) const {
  if (node_rank >= nnodes)
    throw UserError(fmt::format("zoo launch: --node-rank {} is not below --nnodes {} (nodes are numbered from 0)",
                                node_rank, nnodes));
  if (command.empty() || command.front() == "launch")
    throw UserError("zoo launch: give the command the ranks run after --, e.g. zoo launch --nproc 2 -- train r.yaml");
  const int world = nproc * nnodes;
  const int port = master_port > 0 ? master_port : nnodes == 1 ? free_port() : 29500;

  std::mutex out;
  std::vector<std::thread> relays;
  for (int local = 0; local < nproc; ++local) {
    const int rank = node_rank * nproc + local;
    int fds[2];
    if (::pipe(fds) != 0) throw std::runtime_error(std::string("zoo launch: pipe: ") + std::strerror(errno));
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error(std::string("zoo launch: fork: ") + std::strerror(errno));
    if (pid == 0) {
      ::dup2(fds[1], STDOUT_FILENO);
      ::dup2(fds[1], STDERR_FILENO);
      ::close(fds[0]);
      ::close(fds[1]);
      ::setenv("RANK", std::to_string(rank).c_str(), 1);
      ::setenv("WORLD_SIZE", std::to_string(world).c_str(), 1);
      ::setenv("LOCAL_RANK", std::to_string(local).c_str(), 1);
      ::setenv("LOCAL_WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      ::setenv("MASTER_ADDR", master_addr.c_str(), 1);
      ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      std::vector<char*> argv{const_cast<char*>("zoo")};
      for (const auto& arg : command) argv.push_back(const_cast<char*>(arg.c_str()));
      argv.push_back(nullptr);
      ::execv(self.c_str(), argv.data());
      std::fprintf(stderr, "zoo launch: cannot start %s: %s\n", self.c_str(), std::strerror(errno));
      std::_Exit(127);
    }
    ::close(fds[1]);
    children[local] = pid;
    child_count = local + 1;
    relays.emplace_back(relay, fds[0], rank, std::ref(out));
  }
  struct sigaction action {};
  action.sa_handler = forward_signal;
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);

  // Wait for every rank; the first to fail stops the others (SIGTERM, then SIGKILL after a grace
  // period long enough for rank 0 to finish a checkpoint).
  int exit_code = 0, running = nproc;
  bool stopping = false;
  auto stop_deadline = std::chrono::steady_clock::time_point::max();
  while (running > 0) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      --running;
      for (int i = 0; i < nproc; ++i)
        if (children[i] == pid) {
          children[i] = -1;
          const int code = exit_code_of(status);
          if (code != 0 && exit_code == 0) {
            exit_code = code;
            std::lock_guard<std::mutex> lock(out);
            std::fprintf(stderr, "zoo launch: rank %d exited with %d; stopping the other ranks\n",
                         node_rank * nproc + i, code);
          }
        }
      if (exit_code != 0 && !stopping) {
        stopping = true;
        forward_signal(SIGTERM);
        stop_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
      }
      continue;
    }
    if (pid < 0 && errno != EINTR) break;
    if (std::chrono::steady_clock::now() > stop_deadline) forward_signal(SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (auto& thread : relays) thread.join();
  return exit_code;  // a forwarded Ctrl-C the ranks stopped on cleanly (a checkpoint written) is 0, as for zoo train
}

}  // namespace zoo::cli
