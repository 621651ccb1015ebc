// Compute-only training throughput: optimizer steps on tensors already in
// memory, through the real architecture plugins. The yardstick is
// reference.py doing the same with Python torch (see run.sh).
//   cerebra-bench-train --model cnn --size 64 --batch 32 --threads 2 --steps 40
#include <sys/resource.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>

#include <fmt/format.h>

#include "cerebra/architecture.h"
#include "cerebra/host.h"
#include "cerebra/memory.h"

int main(int argc, char** argv) {
  std::string model_name = "cnn";
  std::int64_t size = 64, batch = 32, classes = 2;
  int threads = 1, steps = 40;
  bool channels_last = false;
  std::string allocator = "retain";  // what `cerebra run` uses by default ([run] allocator)
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string key = argv[i], value = argv[i + 1];
    if (key == "--model") model_name = value;
    else if (key == "--size") size = std::stoll(value);
    else if (key == "--batch") batch = std::stoll(value);
    else if (key == "--threads") threads = std::stoi(value);
    else if (key == "--steps") steps = std::stoi(value);
    else if (key == "--channels-last") channels_last = value == "1";
    else if (key == "--allocator") allocator = value;
    else {
      std::cerr << "unknown option " << key << "\n";
      return 2;
    }
  }
  torch::set_num_threads(threads);
  cerebra::configure_allocator(allocator);
  torch::manual_seed(1);
  cerebra::Host host(cerebra::HostOptions{});
  cerebra::Parameters parameters;
  if (model_name == "cnn") parameters.set("input_size", size);
  auto architecture = host.registry().create_as<cerebra::Architecture>(cerebra::kinds::architecture,
                                                                        model_name, parameters);
  auto model = architecture->build(classes);
  model->train();
  auto input = torch::rand({batch, 3, size, size});
  if (channels_last) {
    torch::NoGradGuard no_grad;
    for (auto& p : model->parameters()) {
      if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
    }
    input = input.contiguous(torch::MemoryFormat::ChannelsLast);
  }
  auto labels = torch::randint(0, classes, {batch}, torch::kLong);
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(1e-3));
  auto step = [&] {
    optimizer.zero_grad();
    auto output = model->forward_all(input);
    auto loss = torch::nn::functional::cross_entropy(output.logits, labels);
    loss.backward();
    optimizer.step();
  };
  for (int i = 0; i < 3; ++i) step();  // warm-up: allocator, kernels
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) step();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  std::cout << fmt::format("cerebra model={} size={} batch={} threads={} channels_last={} "
                           "allocator={} steps_images_per_s={:.1f} peak_rss_mb={:.0f}\n",
                           model_name, size, batch, threads, channels_last ? 1 : 0, allocator,
                           steps * batch / seconds, usage.ru_maxrss / 1024.0);
  return 0;
}
