// Rendezvous, Gloo collectives and failure diagnosis for data-parallel runs.
#include "communicator.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "cerebra/error.h"

namespace cerebra::detail {

namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr milliseconds kHeartbeat{1000};

bool loopback(const std::string& address) {
  return address == "localhost" || address.rfind("127.", 0) == 0 || address == "::1";
}

c10::intrusive_ptr<c10d::TCPStore> connect_store(const WorldSpec& world, bool server) {
  c10d::TCPStoreOptions options;
  options.port = static_cast<std::uint16_t>(world.master_port);
  options.isServer = server;
  options.waitWorkers = false;  // ProcessGroupGloo's rendezvous waits for every rank
  options.timeout = seconds(world.timeout_seconds);
  return c10::make_intrusive<c10d::TCPStore>(world.master_addr, options);
}

// Gloo's socket: loopback for a one-host job, GLOO_SOCKET_IFNAME where set
// (as in PyTorch), else the address this host's name resolves to.
std::shared_ptr<::gloo::transport::Device> gloo_device(const WorldSpec& world) {
  if (const char* interface = std::getenv("GLOO_SOCKET_IFNAME"); interface && *interface) {
    return c10d::ProcessGroupGloo::createDeviceForInterface(interface);
  }
  if (loopback(world.master_addr)) return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

}  // namespace

struct Communicator::Impl {
  WorldSpec world;
  c10::intrusive_ptr<c10d::TCPStore> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
  std::thread heartbeat;
  std::mutex mutex;
  std::condition_variable wake;
  bool stopping = false;

  // Each rank counts up its own key every second on a store connection of
  // its own; a rank whose count stands still is dead or stopped.
  void beat() {
    c10::intrusive_ptr<c10d::TCPStore> client;
    try {
      client = connect_store(world, false);
      const std::string key = fmt::format("heartbeat/{}", world.rank);
      std::unique_lock<std::mutex> lock(mutex);
      while (!stopping) {
        client->add(key, 1);
        wake.wait_for(lock, kHeartbeat);
      }
    } catch (const std::exception&) {
      // The store's host (rank 0) is gone; the failing collective says so.
    }
  }

  // Ranks whose heartbeat did not move over three beats; empty when every
  // rank is alive. Throws when the store itself no longer answers.
  std::vector<int> silent_ranks() {
    auto counts = [&] {
      std::vector<std::int64_t> values;
      for (int r = 0; r < world.world; ++r) values.push_back(store->add(fmt::format("heartbeat/{}", r), 0));
      return values;
    };
    const auto before = counts();
    std::this_thread::sleep_for(3 * kHeartbeat);
    const auto after = counts();
    std::vector<int> silent;
    for (int r = 0; r < world.world; ++r) {
      if (r != world.rank && after[static_cast<std::size_t>(r)] == before[static_cast<std::size_t>(r)]) {
        silent.push_back(r);
      }
    }
    return silent;
  }

  // What went wrong with a collective, naming the rank(s) responsible.
  std::string failure(const std::string& what, const std::exception& error) {
    const std::string cause = error.what();
    const std::string first_line = cause.substr(0, cause.find('\n'));
    std::string who;
    try {
      const std::vector<int> silent = silent_ranks();
      std::vector<std::string> names;
      for (int r : silent) names.push_back(std::to_string(r));
      who = silent.empty() ? "every rank still has a heartbeat, so one is stuck or slower than the timeout"
                           : fmt::format("rank {} stopped (no heartbeat: it died, was killed or hangs)",
                                         fmt::join(names, ", "));
    } catch (const std::exception&) {
      who = fmt::format("rank 0 stopped (its rendezvous store at {}:{} no longer answers: it died or was killed)",
                        world.master_addr, world.master_port);
    }
    return fmt::format("{}: {} failed: {}; {} (Gloo: {})", describe(world), what, who, "the run stops",
                       first_line);
  }

  void wait(const c10::intrusive_ptr<c10d::Work>& work, const std::string& what) {
    try {
      work->wait(seconds(world.timeout_seconds));
    } catch (const std::exception& error) {
      throw Error(failure(what, error));
    }
  }
};

Communicator::Communicator(const WorldSpec& world) : impl_(std::make_unique<Impl>()) {
  Impl& impl = *impl_;
  impl.world = world;
  try {
    impl.store = connect_store(world, world.rank == 0);
  } catch (const std::exception& error) {
    const std::string cause = error.what();
    throw Error(world.rank == 0
                    ? fmt::format("rank 0 cannot listen on {}:{} for the rendezvous ({}); is the port in use? "
                                  "Choose another MASTER_PORT",
                                  world.master_addr, world.master_port, cause.substr(0, cause.find('\n')))
                    : fmt::format("{} cannot reach rank 0's rendezvous store at {}:{} within {} s ({})",
                                  describe(world), world.master_addr, world.master_port, world.timeout_seconds,
                                  cause.substr(0, cause.find('\n'))));
  }
  impl.heartbeat = std::thread([&impl] { impl.beat(); });
  try {
    auto options = c10d::ProcessGroupGloo::Options::create(seconds(world.timeout_seconds));
    options->devices.push_back(gloo_device(world));
    options->threads = 1;  // one collective at a time keeps the compute threads free
    impl.group = c10::make_intrusive<c10d::ProcessGroupGloo>(impl.store, world.rank, world.world, options);
  } catch (const std::exception& error) {
    const std::string cause = error.what();
    throw Error(fmt::format("{}: the Gloo rendezvous did not complete within {} s: {} (are all {} ranks started, "
                            "with the same MASTER_ADDR and MASTER_PORT?)",
                            describe(world), world.timeout_seconds, cause.substr(0, cause.find('\n')), world.world));
  }
}

Communicator::~Communicator() {
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  if (impl_->heartbeat.joinable()) impl_->heartbeat.join();
}

const WorldSpec& Communicator::world() const { return impl_->world; }

namespace {

// One collective per tensor, all queued before the first is waited for.
template <class Collective>
void each_tensor(std::vector<torch::Tensor>& tensors, Collective collective,
                 const std::function<void(const c10::intrusive_ptr<c10d::Work>&)>& wait) {
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
  for (auto& tensor : tensors) {
    std::vector<torch::Tensor> one{tensor};
    works.push_back(collective(one));
  }
  for (auto& work : works) wait(work);
}

}  // namespace

void Communicator::all_reduce_sum(std::vector<torch::Tensor>& tensors, const std::string& what) {
  each_tensor(tensors, [&](std::vector<torch::Tensor>& one) { return impl_->group->allreduce(one); },
              [&](const c10::intrusive_ptr<c10d::Work>& work) { impl_->wait(work, what); });
}

void Communicator::broadcast(std::vector<torch::Tensor>& tensors, const std::string& what) {
  each_tensor(tensors, [&](std::vector<torch::Tensor>& one) { return impl_->group->broadcast(one); },
              [&](const c10::intrusive_ptr<c10d::Work>& work) { impl_->wait(work, what); });
}

std::vector<torch::Tensor> Communicator::all_gather(const torch::Tensor& tensor, const std::string& what) {
  std::vector<torch::Tensor> input{tensor.contiguous()};
  std::vector<std::vector<torch::Tensor>> output(1);
  for (int r = 0; r < size(); ++r) output[0].push_back(torch::empty_like(input[0]));
  impl_->wait(impl_->group->allgather(output, input), what);
  return output[0];
}

void Communicator::set(const std::string& key, const std::string& value) {
  impl_->store->set(key, std::vector<std::uint8_t>(value.begin(), value.end()));
}

std::string Communicator::get(const std::string& key) {
  try {
    const std::vector<std::uint8_t> value = impl_->store->get(key);
    return std::string(value.begin(), value.end());
  } catch (const std::exception& error) {
    const std::string cause = error.what();
    throw Error(fmt::format("{}: waited {} s for '{}' from rank 0 in vain ({})", describe(impl_->world),
                            impl_->world.timeout_seconds, key, cause.substr(0, cause.find('\n'))));
  }
}

}  // namespace cerebra::detail
