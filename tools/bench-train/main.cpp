// Compute-only training throughput: optimizer steps on tensors already in
// memory, through the real architecture and optimizer plugins, in the
// precision and memory format a run would use. The yardstick is reference.py
// doing the same with Python torch, as a beginner and at its best (run.sh).
//   cerebra-bench-train --model cnn --size 64 --batch 32 --threads 2 --steps 40 --precision bf16
#include <sys/resource.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <string>

#include <fmt/format.h>

#include "../../framework/src/training/model_runtime.h"
#include "../../framework/src/training/precision.h"
#include "cerebra/architecture.h"
#include "cerebra/host.h"
#include "cerebra/memory.h"
#include "cerebra/training.h"

namespace {

struct Options {
  std::string model = "cnn";
  std::int64_t size = 64, batch = 32, classes = 2;
  int threads = 1, steps = 40;
  bool channels_last = false;
  std::string allocator = "retain";  // what `cerebra run` uses by default ([run] allocator)
  std::string precision = "fp32";
  std::string optimizer = "auto";    // [optimizer] implementation of adam
  bool optimizer_only = false;       // time optimizer steps alone, on random gradients
};

bool parse(int argc, char** argv, Options& o) {
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string key = argv[i], value = argv[i + 1];
    if (key == "--model") o.model = value;
    else if (key == "--size") o.size = std::stoll(value);
    else if (key == "--batch") o.batch = std::stoll(value);
    else if (key == "--threads") o.threads = std::stoi(value);
    else if (key == "--steps") o.steps = std::stoi(value);
    else if (key == "--channels-last") o.channels_last = value == "1";
    else if (key == "--allocator") o.allocator = value;
    else if (key == "--precision") o.precision = value;
    else if (key == "--optimizer") o.optimizer = value;
    else if (key == "--optimizer-only") o.optimizer_only = value == "1";
    else {
      std::cerr << "unknown option " << key << "\n";
      return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!parse(argc, argv, o)) return 2;
  torch::set_num_threads(o.threads);
  cerebra::configure_allocator(o.allocator);
  torch::manual_seed(1);
  cerebra::Host host(cerebra::HostOptions{});
  cerebra::Parameters parameters;
  if (o.model == "cnn") parameters.set("input_size", o.size);
  // The auxiliary head needs 299x299 inputs; smaller benchmarks train without it.
  if (o.model == "inception_v3" && o.size < 299) parameters.set("aux_logits", false);
  auto architecture =
      host.registry().create_as<cerebra::Architecture>(cerebra::kinds::architecture, o.model, parameters);
  auto model = architecture->build(o.classes);
  model->train();
  cerebra::detail::place_model(*model, torch::kCPU, o.channels_last);
  auto input = torch::rand({o.batch, 3, o.size, o.size});
  if (o.channels_last) input = input.contiguous(torch::MemoryFormat::ChannelsLast);
  auto labels = torch::randint(0, o.classes, {o.batch}, torch::kLong);

  cerebra::Parameters adam;
  adam.set("implementation", o.optimizer);
  auto optimizer_component = host.registry().create_as<cerebra::Optimizer>(cerebra::kinds::optimizer, "adam", adam);
  std::vector<cerebra::ParameterGroup> groups{{"head", model->parameters(), 0}};
  auto optimizer = optimizer_component->build(groups);
  const cerebra::detail::Precision precision =
      cerebra::detail::choose_precision(o.precision, cerebra::detail::compute_facts(torch::kCPU)).precision;
  std::function<void()> step = [&] {
    cerebra::detail::clear_gradients(*optimizer);
    torch::Tensor loss;
    {
      cerebra::detail::AutocastScope autocast(torch::kCPU, precision);
      auto output = model->forward_all(input);
      loss = torch::nn::functional::cross_entropy(output.logits.to(torch::kFloat), labels);
    }
    loss.backward();
    optimizer->step();
  };
  if (o.optimizer_only) {
    for (auto& p : model->parameters()) p.mutable_grad() = torch::randn_like(p);
    step = [&] { optimizer->step(); };
  }
  for (int i = 0; i < 3; ++i) step();  // warm-up: allocator, kernels
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < o.steps; ++i) step();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  std::cout << fmt::format("cerebra model={} size={} batch={} threads={} channels_last={} precision={} "
                           "optimizer={}{} allocator={} steps_images_per_s={:.1f} ms_per_step={:.1f} peak_rss_mb={:.0f}\n",
                           o.model, o.size, o.batch, o.threads, o.channels_last ? 1 : 0, o.precision, o.optimizer,
                           o.optimizer_only ? " optimizer_only=1" : "", o.allocator, o.steps * o.batch / seconds,
                           1000 * seconds / o.steps, usage.ru_maxrss / 1024.0);
  return 0;
}
