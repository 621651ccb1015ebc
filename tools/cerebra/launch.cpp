// `cerebra run ... --nproc N`: starts N workers of the same command line on
// this host, joined as a torchrun-style job (RANK, WORLD_SIZE, LOCAL_RANK,
// MASTER_ADDR=127.0.0.1, MASTER_PORT), and watches them: a worker that fails
// gets the others a grace period to stop on their own (they notice within the
// collective timeout), then they are terminated; Ctrl-C reaches every worker,
// which stop together after the current step and leave a resumable run.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "commands.h"

namespace cerebra::cli {

namespace {

volatile sig_atomic_t interrupt_signal = 0;

extern "C" void on_launcher_signal(int signal) { interrupt_signal = signal; }

// This process's command line less --nproc (and its value): each worker's.
std::vector<std::string> worker_arguments() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  const std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> arguments;
  for (std::size_t start = 0; start < all.size();) {
    const std::size_t end = all.find('\0', start);
    arguments.push_back(all.substr(start, end - start));
    start = end == std::string::npos ? all.size() : end + 1;
  }
  std::vector<std::string> kept;
  for (std::size_t i = 0; i < arguments.size(); ++i) {
    if (arguments[i] == "--nproc") {
      ++i;
      continue;
    }
    if (arguments[i].rfind("--nproc=", 0) == 0) continue;
    kept.push_back(arguments[i]);
  }
  return kept;
}

// A TCP port no one listens on now (the kernel's pick for port 0).
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    if (fd >= 0) ::close(fd);
    return 0;
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

pid_t start_worker(const std::vector<std::string>& arguments, int rank, int nproc, int port) {
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  ::setenv("RANK", std::to_string(rank).c_str(), 1);
  ::setenv("LOCAL_RANK", std::to_string(rank).c_str(), 1);
  ::setenv("WORLD_SIZE", std::to_string(nproc).c_str(), 1);
  ::setenv("LOCAL_WORLD_SIZE", std::to_string(nproc).c_str(), 1);
  ::setenv("MASTER_ADDR", "127.0.0.1", 1);
  ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
  std::vector<char*> argv;
  for (const auto& argument : arguments) argv.push_back(const_cast<char*>(argument.c_str()));
  argv.push_back(nullptr);
  ::execv("/proc/self/exe", argv.data());
  std::perror("cerebra run: cannot start a worker");
  std::_Exit(kRunFailed);
}

std::string describe_status(int status) {
  if (WIFSIGNALED(status)) return fmt::format("was killed by signal {} ({})", WTERMSIG(status), strsignal(WTERMSIG(status)));
  return fmt::format("exited with status {}", WEXITSTATUS(status));
}

int exit_code(int status) { return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status); }

int collective_timeout() {
  const char* text = std::getenv("CEREBRA_DIST_TIMEOUT");
  return text && std::atoi(text) > 0 ? std::atoi(text) : 120;
}

// Waits for every worker. After the first failure the others have the
// collective timeout (plus a margin) to stop, then SIGTERM, then SIGKILL.
int watch(std::vector<pid_t>& workers) {
  using Clock = std::chrono::steady_clock;
  std::optional<Clock::time_point> deadline;
  std::optional<int> first_failure;
  int forwarded = 0, running = static_cast<int>(workers.size()), result = kOk;
  bool terminated = false;
  while (running > 0) {
    if (interrupt_signal != 0 && forwarded != interrupt_signal) {
      forwarded = interrupt_signal;
      for (pid_t pid : workers) if (pid > 0) ::kill(pid, SIGINT);
    }
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      for (std::size_t rank = 0; rank < workers.size(); ++rank) {
        if (workers[rank] != pid) continue;
        workers[rank] = -1;
        --running;
        const int code = exit_code(status);
        if (code != kOk && !first_failure && interrupt_signal == 0) {
          first_failure = code;
          std::cerr << fmt::format("cerebra run: rank {} (pid {}) {}; the other ranks stop within {} s\n", rank, pid,
                                   describe_status(status), collective_timeout());
          deadline = Clock::now() + std::chrono::seconds(collective_timeout() + 15);
        }
        if (code != kOk && (result == kOk || rank == 0)) result = code;
      }
      continue;
    }
    if (deadline && Clock::now() > *deadline) {
      for (std::size_t rank = 0; rank < workers.size(); ++rank) {
        if (workers[rank] <= 0) continue;
        std::cerr << fmt::format("cerebra run: rank {} (pid {}) did not stop; {}\n", rank, workers[rank],
                                 terminated ? "killing it" : "terminating it");
        ::kill(workers[rank], terminated ? SIGKILL : SIGTERM);
      }
      terminated = true;
      deadline = Clock::now() + std::chrono::seconds(5);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return first_failure ? *first_failure : result;
}

}  // namespace

int launch_local_workers(int nproc) {
  if (std::getenv("WORLD_SIZE") || std::getenv("RANK")) {
    std::cerr << "cerebra run: --nproc starts a job of its own, but WORLD_SIZE or RANK is set (this process is "
                 "already a worker of a launcher); drop --nproc or unset them\n";
    return kBadUsage;
  }
  int port = free_port();
  if (const char* text = std::getenv("MASTER_PORT"); text && *text) port = std::atoi(text);
  if (port <= 0 || port > 65535) {
    std::cerr << "cerebra run: no usable port for the rendezvous (MASTER_PORT must be 1 to 65535)\n";
    return kBadUsage;
  }
  std::cerr << fmt::format("cerebra run: starting {} workers on 127.0.0.1:{}\n", nproc, port);
  struct sigaction action{};
  action.sa_handler = on_launcher_signal;
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);
  const std::vector<std::string> arguments = worker_arguments();
  std::vector<pid_t> workers;
  for (int rank = 0; rank < nproc; ++rank) workers.push_back(start_worker(arguments, rank, nproc, port));
  return watch(workers);
}

}  // namespace cerebra::cli
