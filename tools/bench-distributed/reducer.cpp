// Gradient synchronisation, measured (issue 15): Cerebra's bucketed all-reduce
// after backward() (DataParallel::reduce_step, what `cerebra run --nproc`
// uses) against c10d::Reducer, the engine of PyTorch's DistributedDataParallel,
// which all-reduces each bucket from autograd hooks while backward() still
// runs. Same model, data, Gloo over loopback and bucket cap (25 MiB, DDP's
// default; Reducer's first bucket 1 MiB as DDP's); the two take turns in
// rounds of --steps steps, so drift hits both alike. Each rank is one process
// started with torchrun's variables (tools/bench-distributed/reducer.sh):
//   RANK=r WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=p cerebra-bench-reducer --model cnn --size 64
//     --batch 16 --threads 1   (one line)
#include <algorithm>
#include <chrono>
#include <iostream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/reducer.hpp>
#include <torch/torch.h>

#include "../../framework/src/distributed/data_parallel.h"
#include "../../framework/src/distributed/world.h"
#include "../../framework/src/training/model_runtime.h"
#include "cerebra/architecture.h"
#include "cerebra/host.h"
#include "cerebra/memory.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string model = "cnn";
  std::int64_t size = 64, batch = 16, classes = 2;
  int threads = 1, steps = 20, rounds = 3;
};

bool parse(int argc, char** argv, Options& o) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string arg = argv[i], value = argv[i + 1];
    if (arg == "--model") o.model = value;
    else if (arg == "--size") o.size = std::stoll(value);
    else if (arg == "--batch") o.batch = std::stoll(value);
    else if (arg == "--threads") o.threads = std::stoi(value);
    else if (arg == "--steps") o.steps = std::stoi(value);
    else if (arg == "--rounds") o.rounds = std::stoi(value);
    else {
      std::cerr << "unknown argument " << arg << "\n";
      return false;
    }
  }
  return true;
}

// Reducer's process group: its own store (the next port) and Gloo group, so
// Cerebra's Communicator keeps its own.
c10::intrusive_ptr<c10d::ProcessGroup> reducer_group(const cerebra::detail::WorldSpec& world) {
  c10d::TCPStoreOptions store_options;
  store_options.port = static_cast<std::uint16_t>(world.master_port + 1);
  store_options.isServer = world.rank == 0;
  store_options.waitWorkers = false;  // Gloo's rendezvous waits for every rank
  auto store = c10::make_intrusive<c10d::TCPStore>(world.master_addr, store_options);
  auto options = c10d::ProcessGroupGloo::Options::create();
  options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
  return c10::make_intrusive<c10d::ProcessGroupGloo>(store, world.rank, world.world, options);
}

std::unique_ptr<c10d::Reducer> make_reducer(const std::vector<torch::Tensor>& parameters,
                                            const c10::intrusive_ptr<c10d::ProcessGroup>& group) {
  constexpr std::int64_t cap = std::int64_t{25} << 20, first_cap = std::int64_t{1} << 20;  // DDP's defaults
  // DDP assigns buckets in reverse order of the parameters, the order in
  // which backward() produces their gradients.
  std::vector<std::int64_t> reversed(parameters.size());
  for (std::size_t i = 0; i < parameters.size(); ++i) reversed[i] = static_cast<std::int64_t>(parameters.size() - 1 - i);
  auto [buckets, limits] = c10d::compute_bucket_assignment_by_size(
      parameters, {static_cast<std::size_t>(first_cap), static_cast<std::size_t>(cap)},
      std::vector<bool>(parameters.size(), false), reversed);
  return std::make_unique<c10d::Reducer>(parameters, buckets, limits, group, std::vector<bool>(parameters.size(), false),
                                         cap, false, false, std::unordered_map<std::size_t, std::string>{}, first_cap);
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!parse(argc, argv, o)) return 2;
  try {
    const auto world = cerebra::detail::world_from_environment();
    if (!world || world->world < 2) throw std::runtime_error("start two ranks with RANK, WORLD_SIZE=2, MASTER_ADDR, MASTER_PORT");
    torch::set_num_threads(o.threads);
    cerebra::configure_allocator("retain");
    torch::manual_seed(1);  // the same initial weights on every rank
    cerebra::Host host(cerebra::HostOptions{});
    cerebra::Parameters parameters;
    if (o.model == "cnn") parameters.set("input_size", o.size);
    if (o.model == "inception_v3") parameters.set("aux_logits", false);
    auto model = host.registry()
                     .create_as<cerebra::Architecture>(cerebra::kinds::architecture, o.model, parameters)
                     ->build(o.classes);
    model->train();
    cerebra::detail::place_model(*model, torch::kCPU, true);
    std::vector<torch::Tensor> weights = model->parameters();
    torch::manual_seed(100 + world->rank);  // each rank its own shard
    auto input = torch::rand({o.batch, 3, o.size, o.size}).contiguous(torch::MemoryFormat::ChannelsLast);
    auto labels = torch::randint(0, o.classes, {o.batch}, torch::kLong);

    cerebra::detail::DataParallel cerebra_path(std::make_unique<cerebra::detail::Communicator>(*world));
    auto reducer = make_reducer(weights, reducer_group(*world));
    auto clear = [&] {
      for (auto& w : weights) w.mutable_grad() = torch::Tensor();
    };
    std::size_t step = 0;
    auto cerebra_step = [&] {
      clear();
      auto loss = torch::nn::functional::cross_entropy(model->forward(input), labels);
      loss.backward();
      cerebra::detail::StepTotals totals;
      totals.images = static_cast<double>(o.batch);
      cerebra_path.reduce_step(weights, 1.0 / world->world, totals, step++);
    };
    auto reducer_step = [&] {
      clear();
      reducer->prepare_for_forward();
      auto loss = torch::nn::functional::cross_entropy(model->forward(input), labels);
      reducer->prepare_for_backward({loss});
      loss.backward();  // the Reducer's hooks all-reduce and average during backward
    };
    // The two must compute the same gradient (the mean over both ranks' images).
    // (The same dropout masks for both: the generator reseeded alike.)
    torch::manual_seed(7 + world->rank);
    cerebra_step();
    std::vector<torch::Tensor> reference;
    for (auto& w : weights) reference.push_back(w.grad().clone());
    torch::manual_seed(7 + world->rank);
    reducer_step();
    double worst = 0;
    for (std::size_t i = 0; i < weights.size(); ++i) {
      worst = std::max(worst, (weights[i].grad() - reference[i]).abs().max().item<double>() /
                                  (reference[i].abs().max().item<double>() + 1e-12));
    }
    std::vector<double> cerebra_ms, reducer_ms;
    for (int round = 0; round < o.rounds; ++round) {
      for (int path = 0; path < 2; ++path) {
        for (int s = 0; s < o.steps; ++s) {
          const auto start = Clock::now();
          path == 0 ? cerebra_step() : reducer_step();
          (path == 0 ? cerebra_ms : reducer_ms)
              .push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
        }
      }
    }
    if (world->rank == 0) {
      std::size_t bytes = 0;
      for (const auto& w : weights) bytes += static_cast<std::size_t>(w.numel()) * 4;
      std::cout << fmt::format(
          "model={} size={} batch_per_rank={} threads={} ranks={} gradient_mb={:.2f} steps={} "
          "cerebra_ms={:.1f} reducer_ms={:.1f} max_relative_gradient_difference={:.2e}\n",
          o.model, o.size, o.batch, o.threads, world->world, bytes / 1e6, cerebra_ms.size(), median(cerebra_ms),
          median(reducer_ms), worst);
    }
  } catch (const std::exception& error) {
    std::cerr << "cerebra-bench-reducer: " << error.what() << "\n";
    return 1;
  }
  return 0;
}
