// Loader throughput on a real dataset: decode -> [crop_brain] -> resize ->
// random flip/rotate -> normalize -> batch, one cold epoch (decode and fill
// the cache) and one warm epoch (cache hits), for each thread count asked.
//
//   cerebra-bench-loader [--data DIR] [--dataset br35h] [--threads 1,2]
//                        [--batch 32] [--size 224] [--crop] [--compete]
//                        [--allocator retain|system] [--no-fold]
//
// --no-fold makes the normalize stage write its own float image, as before
// the loader folded it into the batch write (LoaderOptions::fold_channel_map).
//
// --compete runs a busy matrix-multiply thread beside the loader, as a
// stand-in for the trainer's compute thread, and reports how much work it
// still got done: that is what threads = 0 has to balance.
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <opencv2/core.hpp>

#include "cerebra/data.h"
#include "cerebra/memory.h"
#include "cerebra/plugin_loader.h"

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

struct Epoch {
  double seconds = 0;
  std::size_t images = 0;
};

Epoch run_epoch(cerebra::ImageLoader& loader, int epoch) {
  auto start = std::chrono::steady_clock::now();
  loader.start_epoch(epoch);
  cerebra::Batch batch;
  Epoch result;
  volatile float sink = 0;
  while (loader.next(batch)) {
    result.images += static_cast<std::size_t>(batch.n);
    sink = sink + batch.images[0];  // the consumer touches the batch, as a trainer would
  }
  result.seconds = seconds_since(start);
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  std::string data = std::getenv("CEREBRA_DATA") ? std::getenv("CEREBRA_DATA") : "../shared/datasets";
  std::string dataset_name = "br35h";
  std::vector<int> thread_counts = {1, 2};
  std::int64_t batch_size = 32, size = 224;
  bool crop = false, compete = false, fold = true;
  std::string allocator = "retain";  // what `cerebra run` uses by default ([run] allocator)
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << arg << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--data") data = value();
    else if (arg == "--dataset") dataset_name = value();
    else if (arg == "--batch") batch_size = std::stoll(value());
    else if (arg == "--size") size = std::stoll(value());
    else if (arg == "--crop") crop = true;
    else if (arg == "--allocator") allocator = value();
    else if (arg == "--compete") compete = true;
    else if (arg == "--no-fold") fold = false;
    else if (arg == "--threads") {
      thread_counts.clear();
      std::stringstream list(value());
      std::string item;
      while (std::getline(list, item, ',')) thread_counts.push_back(std::stoi(item));
    } else {
      std::cerr << "unknown argument " << arg << "\n";
      return 2;
    }
  }
  setenv("CEREBRA_DATA", data.c_str(), 1);
  const std::string memory = cerebra::configure_allocator(allocator);

  try {
    cerebra::Registry registry;
    cerebra::PluginLoader plugins(registry);
    plugins.load_all(cerebra::PluginSearchOptions{});
    auto dataset = std::shared_ptr<cerebra::Dataset>(
        registry.create_as<cerebra::Dataset>(cerebra::kinds::dataset, dataset_name, cerebra::Parameters{}));
    auto samples = dataset->samples();

    auto p = [](std::initializer_list<std::pair<std::string, cerebra::Value>> values) {
      cerebra::Parameters parameters;
      for (const auto& [k, v] : values) parameters.set(k, v);
      return parameters;
    };
    std::vector<cerebra::Stage> preprocess;
    if (crop) preprocess.push_back(cerebra::make_stage(registry, "crop_brain", {}));
    preprocess.push_back(cerebra::make_stage(registry, "resize", p({{"size", size}})));
    // Normalize runs after the random stages, every epoch, so the cache holds
    // 8-bit images (a quarter of the memory of floats).
    std::vector<cerebra::Stage> augment = {
        cerebra::make_stage(registry, "random_flip", {}),
        // Nearest, as torchvision's RandomRotation samples by default (reference.py).
        cerebra::make_stage(registry, "random_rotate",
                            p({{"degrees", 15.0}, {"interpolation", std::string("nearest")}})),
        cerebra::make_stage(registry, "normalize", p({{"preset", std::string("imagenet")}}))};

    std::cout << fmt::format("dataset {} ({} images), batch {}, size {}, preprocess: {}resize; "
                             "augment: random_flip, random_rotate (nearest), normalize (folded into the batch write: {}); "
                             "hardware threads {}; "
                             "default loader threads {}; memory: {}\n",
                             dataset_name, samples.size(), batch_size, size, crop ? "crop_brain, " : "",
                             fold ? "yes" : "no", std::thread::hardware_concurrency(), cerebra::default_loader_threads(), memory);
    if (compete) {
      // The busy thread's rate with no loader beside it, for comparison.
      std::atomic<bool> stop{false};
      std::atomic<long> multiplies{0};
      std::thread busy([&] {
        cv::Mat a(256, 256, CV_32F, cv::Scalar(0.5)), b(256, 256, CV_32F, cv::Scalar(0.25)), c;
        while (!stop) {
          cv::gemm(a, b, 1.0, cv::noArray(), 0.0, c);
          ++multiplies;
        }
      });
      std::this_thread::sleep_for(std::chrono::seconds(3));
      stop = true;
      busy.join();
      std::cout << fmt::format("alone gemm_per_s={:.1f}\n", multiplies.load() / 3.0);
    }
    for (int threads : thread_counts) {
      cerebra::LoaderOptions options;
      options.batch_size = static_cast<std::size_t>(batch_size);
      options.shuffle = true;
      options.threads = threads;
      options.cache = "memory";
      options.prefetch = 2;
      options.fold_channel_map = fold;
      cerebra::ImageLoader loader(dataset, samples, preprocess, augment, options);

      std::atomic<bool> stop{false};
      std::atomic<long> multiplies{0};
      std::thread busy;
      if (compete) {
        busy = std::thread([&] {
          cv::Mat a(256, 256, CV_32F, cv::Scalar(0.5)), b(256, 256, CV_32F, cv::Scalar(0.25)), c;
          while (!stop) {
            cv::gemm(a, b, 1.0, cv::noArray(), 0.0, c);
            ++multiplies;
          }
        });
      }
      Epoch cold = run_epoch(loader, 0);
      long after_cold = multiplies.load();
      Epoch warm = run_epoch(loader, 1);
      long after_warm = multiplies.load() - after_cold;
      stop = true;
      if (busy.joinable()) busy.join();
      std::cout << fmt::format("cerebra threads={} cold_images_per_s={:.1f} warm_images_per_s={:.1f}", threads,
                               cold.images / cold.seconds, warm.images / warm.seconds);
      if (compete) {
        std::cout << fmt::format(" competing_gemm_per_s_cold={:.1f} competing_gemm_per_s_warm={:.1f}",
                                 after_cold / cold.seconds, after_warm / warm.seconds);
      }
      std::cout << "\n" << std::flush;
    }
  } catch (const std::exception& error) {
    std::cerr << "error: " << error.what() << "\n";
    return 1;
  }
  return 0;
}
