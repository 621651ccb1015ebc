#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>
#include <sys/mman.h>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "cerebra/data.h"
#include "planar.h"
#include "seeding.h"
#include "worker_pool.h"

namespace cerebra {

namespace fs = std::filesystem;

Stage make_stage(const Registry& registry, const std::string& name, const Parameters& parameters) {
  const ComponentInfo& info = registry.find(kinds::transform, name);
  Stage stage;
  stage.name = name;
  stage.parameters = Parameters::defaults(info.schema);
  for (const auto& [key, value] : parameters.values()) stage.parameters.set(key, value);
  std::unique_ptr<Transform> transform =
      registry.create_as<Transform>(kinds::transform, name, stage.parameters);
  stage.transform = std::shared_ptr<const Transform>(std::move(transform));
  return stage;
}

int default_loader_threads() {
  // Decoding shares the cores with the trainer. Measured on a 2-core machine
  // (docs/performance.md): a second decode thread lifts the cold epoch by
  // about 1.9x but takes about 30% of a busy compute thread's work, and after
  // the first epoch the cache leaves only augmentation, which one thread does
  // at over 1,000 images/s, far above CPU training speed. So one core stays
  // with the trainer; beyond 8 decoders memory bandwidth, not cores, limits.
  unsigned hardware = std::thread::hardware_concurrency();
  if (hardware <= 2) return 1;
  return std::min(static_cast<int>(hardware) - 1, 8);
}

namespace {

std::vector<Stage> bare_stages(std::vector<std::shared_ptr<const Transform>> transforms) {
  std::vector<Stage> stages;
  for (auto& transform : transforms) {
    Stage stage;
    stage.transform = std::move(transform);
    stages.push_back(std::move(stage));
  }
  return stages;
}

std::string stage_label(const Stage& stage, std::size_t position) {
  return stage.name.empty() ? fmt::format("#{}", position + 1) : "'" + stage.name + "'";
}

// The pipeline's last stage, removed from its list, when it is a channel map
// (a normalize): the loader applies it while writing the batch. Its label
// for error messages goes to `label`.
std::optional<Stage> take_channel_map(std::vector<Stage>& preprocess, std::vector<Stage>& augment,
                                      std::string& label) {
  std::vector<Stage>& last = augment.empty() ? preprocess : augment;
  if (last.empty() || !last.back().transform->is_channel_map()) return std::nullopt;
  label = fmt::format("{} stage {}", &last == &augment ? "augment" : "preprocess",
                      stage_label(last.back(), last.size() - 1));
  Stage stage = std::move(last.back());
  last.pop_back();
  return stage;
}

std::uint64_t fnv1a(const std::string& text, std::uint64_t hash) {
  for (unsigned char byte : text) {
    hash ^= byte;
    hash *= 1099511628211ull;
  }
  return hash;
}

// Disk cache entries: a header naming the full key (so a hash collision reads
// as a miss, not a wrong image), then the raw pixels.
constexpr char kCacheMagic[8] = {'C', 'E', 'R', 'B', 'C', 'A', 'C', '1'};

bool read_cache_file(const std::string& path, const std::string& key, cv::Mat& image) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  char magic[8];
  std::uint32_t key_size = 0;
  std::int32_t rows = 0, cols = 0, type = 0;
  in.read(magic, 8);
  in.read(reinterpret_cast<char*>(&key_size), sizeof key_size);
  if (!in || std::memcmp(magic, kCacheMagic, 8) != 0 || key_size > 1u << 20) return false;
  std::string stored(key_size, '\0');
  in.read(stored.data(), key_size);
  in.read(reinterpret_cast<char*>(&rows), sizeof rows);
  in.read(reinterpret_cast<char*>(&cols), sizeof cols);
  in.read(reinterpret_cast<char*>(&type), sizeof type);
  if (!in || stored != key || rows <= 0 || cols <= 0 || rows > 1 << 16 || cols > 1 << 16) return false;
  cv::Mat loaded(rows, cols, type);
  std::size_t bytes = loaded.total() * loaded.elemSize();
  in.read(reinterpret_cast<char*>(loaded.data), static_cast<std::streamsize>(bytes));
  if (!in || in.gcount() != static_cast<std::streamsize>(bytes)) return false;
  image = loaded;
  return true;
}

void write_cache_file(const std::string& path, const std::string& key, const cv::Mat& image) {
  std::error_code error;
  fs::create_directories(fs::path(path).parent_path(), error);
  cv::Mat continuous = image.isContinuous() ? image : image.clone();
  // A unique temporary name per process and thread, then rename: readers see
  // either no file or a complete one, even with several runs sharing a cache.
  std::ostringstream temporary;
  temporary << path << ".tmp." << ::getpid() << "." << std::this_thread::get_id();
  {
    std::ofstream out(temporary.str(), std::ios::binary | std::ios::trunc);
    if (!out) return;  // a cache that cannot be written is only slower
    auto key_size = static_cast<std::uint32_t>(key.size());
    std::int32_t rows = continuous.rows, cols = continuous.cols, type = continuous.type();
    out.write(kCacheMagic, 8);
    out.write(reinterpret_cast<const char*>(&key_size), sizeof key_size);
    out.write(key.data(), key_size);
    out.write(reinterpret_cast<const char*>(&rows), sizeof rows);
    out.write(reinterpret_cast<const char*>(&cols), sizeof cols);
    out.write(reinterpret_cast<const char*>(&type), sizeof type);
    out.write(reinterpret_cast<const char*>(continuous.data),
              static_cast<std::streamsize>(continuous.total() * continuous.elemSize()));
    out.flush();
    if (!out) {
      out.close();
      fs::remove(temporary.str(), error);
      return;
    }
  }
  fs::rename(temporary.str(), path, error);
  if (error) fs::remove(temporary.str(), error);
}

// Storage for the memory cache: large blocks, handed out in order and freed
// only with the loader. Filling a cache touches hundreds of megabytes of
// fresh memory in the first epoch; on the development VM a first touch of a
// 4 KiB page costs ~12 microseconds (400 MB: 1.2 s, a third of a cold Br35H
// epoch), so the blocks ask for transparent huge pages, which cut that to
// hundreds of faults where the kernel has huge pages to give. Where it has
// none, this is ordinary memory.
class CacheArena {
 public:
  CacheArena() = default;
  CacheArena(const CacheArena&) = delete;
  CacheArena& operator=(const CacheArena&) = delete;
  ~CacheArena() {
    for (const auto& block : blocks_) ::munmap(block.first, block.second);
  }

  // A copy of `image` in the arena (continuous rows).
  cv::Mat store(const cv::Mat& image) {
    const std::size_t bytes = image.total() * image.elemSize();
    void* memory = allocate(bytes);
    if (!memory) return image.clone();
    cv::Mat copy(image.rows, image.cols, image.type(), memory);
    image.copyTo(copy);
    return copy;
  }

 private:
  static constexpr std::size_t kHuge = 2u << 20;
  static constexpr std::size_t kBlock = 64u << 20;

  void* allocate(std::size_t bytes) {
    bytes = (bytes + 63) & ~std::size_t{63};
    std::lock_guard<std::mutex> lock(mutex_);
    if (bytes > left_) {
      const std::size_t size = std::max(kBlock, (bytes + kHuge - 1) / kHuge * kHuge);
      // Over-allocate by one huge page to align the start for THP.
      void* raw = ::mmap(nullptr, size + kHuge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (raw == MAP_FAILED) return nullptr;  // the caller falls back to the heap
      blocks_.emplace_back(raw, size + kHuge);
      auto aligned = (reinterpret_cast<std::uintptr_t>(raw) + kHuge - 1) & ~(std::uintptr_t{kHuge} - 1);
      next_ = reinterpret_cast<unsigned char*>(aligned);
      left_ = size;
#ifdef MADV_HUGEPAGE
      ::madvise(next_, size, MADV_HUGEPAGE);  // advice only: failure changes nothing
#endif
    }
    void* memory = next_;
    next_ += bytes;
    left_ -= bytes;
    return memory;
  }

  std::mutex mutex_;
  std::vector<std::pair<void*, std::size_t>> blocks_;
  unsigned char* next_ = nullptr;
  std::size_t left_ = 0;
};

}  // namespace

struct ImageLoader::Impl {
  std::shared_ptr<const Dataset> dataset;
  std::vector<Sample> samples;
  std::vector<Stage> preprocess, augment;
  // The pipeline's last stage when it is a channel map, taken out of
  // `preprocess` or `augment` and applied by write_planar (fold_channel_map).
  std::optional<Stage> folded;
  std::string folded_label;
  LoaderOptions options;
  std::string stages_key;  // what the preprocess stages are, for disk cache keys
  LoadHint hint;           // passed to Dataset::load: how small a decode may be

  std::unique_ptr<detail::WorkerPool> pool;

  // Memory cache of preprocessed images; one lock per stripe of indices.
  std::vector<cv::Mat> cache;
  CacheArena cache_memory;  // holds the pixels of `cache`
  std::vector<char> cached;
  std::array<std::mutex, 64> stripes;

  mutable std::mutex bad_mutex;
  std::vector<char> bad;  // indices known to be unreadable (skip mode)
  std::vector<SkippedFile> skipped;

  // Epoch state; the producer alone moves the cursor.
  int epoch = -1;
  std::vector<std::size_t> order;
  std::size_t cursor = 0;
  // Sharded loaders: order holds this rank's samples, positions their place
  // in the unsharded order, plan each batch's (images here, images in all).
  std::vector<std::size_t> positions;
  struct Planned {
    std::size_t take, all, offset;  // images here, in the global batch, before this rank's
  };
  std::vector<Planned> plan;
  std::size_t planned = 0;  // batches of `plan` produced this epoch

  bool sharded() const { return options.shard_count > 1; }

  // Prefetch queue filled by the producer thread.
  std::thread producer;
  std::mutex queue_mutex;
  std::condition_variable queue_changed;
  std::deque<Batch> queue;
  std::vector<std::vector<float>> spare_buffers;  // image buffers of consumed batches
  bool producer_finished = true;
  std::exception_ptr producer_error;
  std::atomic<bool> cancel{false};

  ~Impl() { stop_producer(); }

  void stop_producer() {
    if (!producer.joinable()) return;
    cancel = true;
    queue_changed.notify_all();
    producer.join();
    cancel = false;
  }

  std::string disk_key(std::size_t index) const {
    return dataset->fingerprint(samples[index]) + "|" + stages_key;
  }

  std::string disk_path(const std::string& key) const {
    std::uint64_t a = fnv1a(key, 1469598103934665603ull);
    std::uint64_t b = fnv1a(key, 0x84222325cbf29ce4ull ^ 0x9e3779b97f4a7c15ull);
    std::string name = fmt::format("{:016x}{:016x}", a, b);
    return (fs::path(options.cache_dir) / name.substr(0, 2) / (name + ".bin")).string();
  }

  // The decoded and preprocessed image, from a cache when possible. Throws a
  // BadFile for images that cannot be read, Error for everything else.
  struct BadFile {
    std::string reason;
  };

  cv::Mat preprocessed(std::size_t index) {
    const bool use_memory = options.cache != "none";
    std::mutex& stripe = stripes[index % stripes.size()];
    if (use_memory) {
      std::lock_guard<std::mutex> lock(stripe);
      if (cached[index]) return cache[index];
    }
    const Sample& sample = samples[index];
    cv::Mat image;
    std::string key, path;
    bool from_disk = false;
    if (options.cache == "disk") {
      try {
        key = disk_key(index);
      } catch (const std::exception& error) {
        throw BadFile{error.what()};
      }
      path = disk_path(key);
      from_disk = read_cache_file(path, key, image);
    }
    if (!from_disk) {
      try {
        image = dataset->load(sample, hint);
      } catch (const std::exception& error) {
        throw BadFile{error.what()};
      }
      if (image.empty()) throw BadFile{sample.id + ": the dataset returned an empty image"};
      for (std::size_t s = 0; s < preprocess.size(); ++s) {
        std::mt19937_64 unused(0);  // deterministic stages must ignore it
        try {
          image = preprocess[s].transform->apply(image, unused);
        } catch (const std::exception& error) {
          throw Error(fmt::format("{}: preprocess stage {} failed: {}", sample.id,
                                  stage_label(preprocess[s], s), error.what()));
        }
        if (image.empty()) {
          throw Error(fmt::format("{}: preprocess stage {} returned an empty image", sample.id,
                                  stage_label(preprocess[s], s)));
        }
      }
      if (options.cache == "disk") write_cache_file(path, key, image);
    }
    if (use_memory) {
      std::lock_guard<std::mutex> lock(stripe);
      if (!cached[index]) {
        cache[index] = cache_memory.store(image);
        cached[index] = 1;
      }
      return cache[index];
    }
    return image;
  }

  struct Item {
    bool ok = false;
    std::string reason;
    cv::Mat image;  // what the stages produced, see batchable()
    std::optional<ChannelMap> map;  // the folded stage's map for `image`
  };

  Item process(std::size_t index, std::size_t position) {
    Item item;
    {
      std::lock_guard<std::mutex> lock(bad_mutex);
      if (bad[index]) {
        item.reason = "known bad";
        return item;
      }
    }
    cv::Mat image;
    try {
      image = preprocessed(index);
    } catch (const BadFile& bad_file) {
      item.reason = bad_file.reason;
      return item;
    }
    if (!augment.empty()) {
      // Seeded per (seed, epoch, sample, draw): the same numbers whichever
      // thread runs it and in whatever order. Another view stream draws
      // other numbers for the same images in the same order.
      const auto epoch_number = static_cast<std::uint64_t>(epoch);
      std::mt19937_64 rng(options.view == 0
                              ? detail::mix_seed({options.seed, epoch_number, index, position})
                              : detail::mix_seed({options.seed, epoch_number, index, position, options.view}));
      for (std::size_t s = 0; s < augment.size(); ++s) {
        try {
          image = augment[s].transform->apply(image, rng);
        } catch (const std::exception& error) {
          throw Error(fmt::format("{}: augment stage {} failed: {}", samples[index].id,
                                  stage_label(augment[s], s), error.what()));
        }
        if (image.empty()) {
          throw Error(fmt::format("{}: augment stage {} returned an empty image",
                                  samples[index].id, stage_label(augment[s], s)));
        }
      }
    }
    if (folded) {
      // The folded stage reads any depth; the batch writer reads these.
      const int depth = image.depth();
      if (depth != CV_8U && depth != CV_16U && depth != CV_32F) image.convertTo(image, CV_32F);
    }
    item.image = detail::batchable(image, samples[index].id);
    if (folded) {
      try {
        item.map = folded->transform->channel_map(item.image);
      } catch (const std::exception& error) {
        throw Error(fmt::format("{}: {} failed: {}", samples[index].id, folded_label, error.what()));
      }
    }
    item.ok = true;
    return item;
  }

  void make_order() {
    make_full_order();
    if (sharded()) shard_order();
  }

  // Batches a sharded epoch of `usable` readable samples has: (start, images) of each.
  std::vector<std::pair<std::size_t, std::size_t>> global_batches(std::size_t usable) const {
    const std::size_t global = options.batch_size * options.shard_count;
    std::vector<std::pair<std::size_t, std::size_t>> batches;
    for (std::size_t start = 0; start < usable; start += global) {
      const std::size_t images = std::min(global, usable - start);
      if (images < global && options.drop_last) break;
      if (images < options.shard_count && options.every_shard_nonempty) break;
      batches.emplace_back(start, images);
    }
    return batches;
  }

  std::size_t usable_count() const {
    std::lock_guard<std::mutex> lock(bad_mutex);
    return samples.size() - static_cast<std::size_t>(std::count(bad.begin(), bad.end(), 1));
  }

  // Keeps this rank's slice of every global batch of the readable samples.
  void shard_order() {
    std::vector<std::size_t> readable, readable_positions;
    {
      std::lock_guard<std::mutex> lock(bad_mutex);
      for (std::size_t p = 0; p < order.size(); ++p) {
        if (bad[order[p]]) continue;
        readable.push_back(order[p]);
        readable_positions.push_back(p);  // the unsharded position, which seeds augmentation
      }
    }
    order.clear();
    positions.clear();
    plan.clear();
    planned = 0;
    const std::size_t rank = options.shard_rank, ranks = options.shard_count;
    for (const auto& [start, images] : global_batches(readable.size())) {
      const std::size_t from = start + images * rank / ranks, to = start + images * (rank + 1) / ranks;
      order.insert(order.end(), readable.begin() + from, readable.begin() + to);
      positions.insert(positions.end(), readable_positions.begin() + from, readable_positions.begin() + to);
      plan.push_back({to - from, images, from - start});
    }
  }

  void make_full_order() {
    const std::size_t n = samples.size();
    order.resize(n);
    const std::uint64_t epoch_seed =
        detail::mix_seed({options.seed, 0x0bde7ull, static_cast<std::uint64_t>(epoch)});
    if (options.weighted_sampler && n > 0) {
      // Probability of a sample is inversely proportional to its class's size,
      // so every class is drawn equally often; the epoch keeps its length.
      std::map<int, std::size_t> per_class;
      for (const auto& sample : samples) ++per_class[sample.label];
      std::vector<double> cumulative(n);
      double total = 0;
      for (std::size_t i = 0; i < n; ++i) {
        total += 1.0 / static_cast<double>(per_class[samples[i].label]);
        cumulative[i] = total;
      }
      std::uint64_t state = epoch_seed;
      for (std::size_t k = 0; k < n; ++k) {
        double u = static_cast<double>(detail::splitmix64(state) >> 11) *
                   (1.0 / 9007199254740992.0) * total;
        auto it = std::upper_bound(cumulative.begin(), cumulative.end(), u);
        order[k] = std::min(static_cast<std::size_t>(it - cumulative.begin()), n - 1);
      }
      return;
    }
    for (std::size_t i = 0; i < n; ++i) order[i] = i;
    if (options.shuffle) detail::portable_shuffle(order, epoch_seed);
  }

  // A bad file stops the loader with an Error naming it, or is skipped from
  // now on and recorded once (skip_bad_files).
  void reject(std::size_t index, const std::string& reason) {
    if (!options.skip_bad_files) {
      throw Error(fmt::format(
          "{} (unreadable image; set [loader] on_bad_file = \"skip\" to skip and list such files)",
          reason.find(samples[index].id) == std::string::npos ? samples[index].id + ": " + reason : reason));
    }
    std::lock_guard<std::mutex> lock(bad_mutex);
    if (!bad[index]) {
      bad[index] = 1;
      skipped.push_back({samples[index].id, reason});
    }
  }

  std::size_t check_all() {
    std::vector<std::string> reasons(samples.size());
    pool->run(samples.size(), [&](std::size_t index) {
      try {
        preprocessed(index);
      } catch (const BadFile& bad_file) {
        reasons[index] = bad_file.reason;
      }
    });
    std::size_t usable = 0;
    for (std::size_t index = 0; index < samples.size(); ++index) {
      if (reasons[index].empty()) ++usable;
      else reject(index, reasons[index]);
    }
    return usable;
  }

  // Builds the next batch of the epoch; false at its end.
  bool produce(Batch& batch) {
    std::vector<std::size_t> indices;
    std::vector<Item> images;  // the readable samples' items, in order
    std::int64_t global = 0, offset = 0;
    if (sharded()) {
      if (!take_shard(indices, images, global, offset)) return false;
    } else {
      if (!take_next(indices, images)) return false;
      global = static_cast<std::int64_t>(indices.size());
    }
    fill(batch, indices, images);
    batch.global_n = global;
    batch.global_offset = offset;
    return true;
  }

  // The next batch_size readable samples of the order.
  bool take_next(std::vector<std::size_t>& indices, std::vector<Item>& images) {
    const std::size_t batch_size = options.batch_size;
    while (indices.size() < batch_size && cursor < order.size() && !cancel) {
      // Bad files are replaced by the next samples in the order, so every
      // batch but the last stays full. Which samples those are depends only
      // on the order, not on the threads.
      const std::size_t take = std::min(batch_size - indices.size(), order.size() - cursor);
      std::vector<Item> items(take);
      const std::size_t start = cursor;
      pool->run(take, [&](std::size_t k) {
        items[k] = process(order[start + k], start + k);
      });
      cursor += take;
      for (std::size_t k = 0; k < take; ++k) {
        const std::size_t index = order[start + k];
        if (items[k].ok) {
          indices.push_back(index);
          images.push_back(std::move(items[k]));
          continue;
        }
        reject(index, items[k].reason);
      }
    }
    if (indices.empty() || cancel) return false;
    if (indices.size() < batch_size && options.drop_last) {
      cursor = order.size();
      return false;
    }
    return true;
  }

  // This rank's part of the next global batch. Another rank's batches must
  // stay in step, so a file that turns bad now cannot be replaced.
  bool take_shard(std::vector<std::size_t>& indices, std::vector<Item>& images, std::int64_t& global,
                  std::int64_t& offset) {
    while (planned < plan.size() && !cancel) {
      const auto [take, all, before] = plan[planned++];
      global = static_cast<std::int64_t>(all);
      offset = static_cast<std::int64_t>(before);
      std::vector<Item> items(take);
      const std::size_t start = cursor;
      pool->run(take, [&](std::size_t k) { items[k] = process(order[start + k], positions[start + k]); });
      cursor += take;
      for (std::size_t k = 0; k < take; ++k) {
        if (!items[k].ok) {
          throw Error(fmt::format("{}: unreadable during a data-parallel epoch ({}); every rank must read the "
                                  "same files, so it cannot be skipped now",
                                  samples[order[start + k]].id, items[k].reason));
        }
        indices.push_back(order[start + k]);
        images.push_back(std::move(items[k]));
      }
      if (!indices.empty()) return true;  // a rank's share of a tiny last batch may be empty
    }
    return false;
  }

  // Writes `images` (in order) into `batch`.
  void fill(Batch& batch, const std::vector<std::size_t>& indices, const std::vector<Item>& images) {
    const int height = images[0].image.rows, width = images[0].image.cols;
    for (std::size_t k = 1; k < images.size(); ++k) {
      if (images[k].image.rows != height || images[k].image.cols != width) {
        throw Error(fmt::format(
            "{}: image is {}x{} (width x height) but {} in the same batch is {}x{}; images of "
            "different sizes cannot be batched: add a resize stage to [[preprocess]] "
            "(name = \"resize\")",
            samples[indices[k]].id, images[k].image.cols, images[k].image.rows, samples[indices[0]].id,
            width, height));
      }
    }
    const std::size_t per_image = static_cast<std::size_t>(options.channels) * height * width;
    batch.n = static_cast<std::int64_t>(indices.size());
    batch.channels = options.channels;
    batch.height = height;
    batch.width = width;
    // A buffer the consumer handed back (see next()), so a batch costs no
    // fresh pages; every element is written below.
    {
      std::lock_guard<std::mutex> lock(queue_mutex);
      if (!spare_buffers.empty()) {
        batch.images = std::move(spare_buffers.back());
        spare_buffers.pop_back();
      }
    }
    batch.images.resize(per_image * indices.size());
    batch.labels.resize(indices.size());
    batch.indices = indices;
    float* out = batch.images.data();
    pool->run(indices.size(), [&](std::size_t k) {
      const auto& map = images[k].map;
      detail::write_planar(images[k].image, options.channels, out + k * per_image, map ? &*map : nullptr);
    });
    for (std::size_t k = 0; k < indices.size(); ++k) batch.labels[k] = samples[indices[k]].label;
  }

  // Gives the image buffer of a batch the consumer is done with to the
  // producer, to fill again.
  void recycle(Batch& batch) {
    if (batch.images.capacity() == 0) return;
    std::lock_guard<std::mutex> lock(queue_mutex);
    if (spare_buffers.size() < static_cast<std::size_t>(options.prefetch) + 2) {
      spare_buffers.push_back(std::move(batch.images));
    }
    batch.images = {};
  }

  void run_producer() {
    try {
      for (;;) {
        {
          std::unique_lock<std::mutex> lock(queue_mutex);
          queue_changed.wait(lock, [&] {
            return cancel || queue.size() < static_cast<std::size_t>(options.prefetch);
          });
          if (cancel) break;
        }
        Batch batch;
        if (!produce(batch)) break;
        std::lock_guard<std::mutex> lock(queue_mutex);
        queue.push_back(std::move(batch));
        queue_changed.notify_all();
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(queue_mutex);
      producer_error = std::current_exception();
    }
    std::lock_guard<std::mutex> lock(queue_mutex);
    producer_finished = true;
    queue_changed.notify_all();
  }
};

ImageLoader::ImageLoader(std::shared_ptr<const Dataset> dataset, std::vector<Sample> samples,
                         std::vector<std::shared_ptr<const Transform>> preprocess,
                         std::vector<std::shared_ptr<const Transform>> augment,
                         LoaderOptions options)
    : ImageLoader(std::move(dataset), std::move(samples), bare_stages(std::move(preprocess)),
                  bare_stages(std::move(augment)), std::move(options)) {}

ImageLoader::ImageLoader(std::shared_ptr<const Dataset> dataset, std::vector<Sample> samples,
                         std::vector<Stage> preprocess, std::vector<Stage> augment,
                         LoaderOptions options)
    : impl_(std::make_unique<Impl>()) {
  if (!dataset) throw Error("image loader: no dataset");
  if (options.batch_size == 0) throw Error("image loader: batch_size must be at least 1");
  if (options.channels != 1 && options.channels != 3) {
    throw Error(fmt::format("image loader: channels must be 1 or 3, found {}", options.channels));
  }
  if (options.cache != "none" && options.cache != "memory" && options.cache != "disk") {
    throw Error("image loader: cache must be none, memory or disk, found '" + options.cache + "'");
  }
  if (options.prefetch < 0) throw Error("image loader: prefetch must not be negative");
  if (options.threads < 0) throw Error("image loader: threads must not be negative");
  for (std::size_t s = 0; s < preprocess.size(); ++s) {
    if (!preprocess[s].transform) throw Error(fmt::format("preprocess stage #{} is empty", s + 1));
    if (preprocess[s].transform->is_random()) {
      throw Error(fmt::format(
          "preprocess stage {} is random; random stages belong in [[augment]], since preprocessed "
          "images are computed once and cached",
          stage_label(preprocess[s], s)));
    }
  }
  for (std::size_t s = 0; s < augment.size(); ++s) {
    if (!augment[s].transform) throw Error(fmt::format("augment stage #{} is empty", s + 1));
  }
  Impl& impl = *impl_;
  if (options.reduced_decode && !preprocess.empty()) {
    const cv::Size size = preprocess.front().transform->accepts_reduced_input();
    if (size.width > 0 && size.height > 0) impl.hint = LoadHint{size.width, size.height};
  }
  if (options.fold_channel_map) impl.folded = take_channel_map(preprocess, augment, impl.folded_label);
  if (options.cache == "disk") {
    nlohmann::json description = nlohmann::json::array();
    for (std::size_t s = 0; s < preprocess.size(); ++s) {
      if (preprocess[s].name.empty()) {
        throw Error(fmt::format(
            "image loader: cache = \"disk\" needs every preprocess stage's name and parameters to "
            "key the cache, but stage #{} has none; build stages with make_stage()",
            s + 1));
      }
      description.push_back({{"name", preprocess[s].name},
                             {"parameters", preprocess[s].parameters.to_json()}});
    }
    // Bump the version when the cache format or what stages mean changes.
    impl.stages_key = "v1|" + description.dump();
    // A reduced-scale decode gives (slightly) different pixels.
    if (impl.hint.min_width > 0) {
      impl.stages_key += fmt::format("|decoded-at-least-{}x{}", impl.hint.min_width, impl.hint.min_height);
    }
  }
  impl.dataset = std::move(dataset);
  impl.samples = std::move(samples);
  impl.preprocess = std::move(preprocess);
  impl.augment = std::move(augment);
  impl.options = std::move(options);
  const std::size_t n = impl.samples.size();
  impl.cache.resize(n);
  impl.cached.assign(n, 0);
  impl.bad.assign(n, 0);
  int threads = impl.options.threads > 0 ? impl.options.threads : default_loader_threads();
  impl.pool = std::make_unique<detail::WorkerPool>(threads);
}

ImageLoader::~ImageLoader() = default;

std::size_t ImageLoader::size() const { return impl_->samples.size(); }

std::size_t ImageLoader::batches_per_epoch() const {
  if (impl_->sharded()) return impl_->global_batches(impl_->usable_count()).size();
  const std::size_t n = impl_->samples.size(), b = impl_->options.batch_size;
  return impl_->options.drop_last ? n / b : (n + b - 1) / b;
}

const std::vector<Sample>& ImageLoader::samples() const { return impl_->samples; }

int ImageLoader::threads() const { return impl_->pool->threads(); }

void ImageLoader::start_epoch(int epoch) {
  Impl& impl = *impl_;
  impl.stop_producer();
  impl.queue.clear();
  impl.producer_error = nullptr;
  impl.epoch = epoch;
  impl.cursor = 0;
  impl.make_order();
  impl.producer_finished = false;
  if (impl.options.prefetch > 0) {
    impl.producer = std::thread([&impl] { impl.run_producer(); });
  }
}

bool ImageLoader::next(Batch& batch) {
  Impl& impl = *impl_;
  if (impl.epoch < 0) start_epoch(0);
  if (impl.options.prefetch == 0) {
    if (impl.producer_finished) return false;
    try {
      if (impl.produce(batch)) return true;
    } catch (...) {
      impl.producer_finished = true;
      throw;
    }
    impl.producer_finished = true;
    return false;
  }
  impl.recycle(batch);  // the caller is done with the batch it passes in
  std::unique_lock<std::mutex> lock(impl.queue_mutex);
  impl.queue_changed.wait(lock, [&] { return !impl.queue.empty() || impl.producer_finished; });
  if (!impl.queue.empty()) {
    batch = std::move(impl.queue.front());
    impl.queue.pop_front();
    impl.queue_changed.notify_all();
    return true;
  }
  if (impl.producer_error) {
    std::exception_ptr error = impl.producer_error;
    impl.producer_error = nullptr;
    std::rethrow_exception(error);
  }
  return false;
}

std::size_t ImageLoader::check_all() { return impl_->check_all(); }

std::vector<SkippedFile> ImageLoader::skipped() const {
  std::lock_guard<std::mutex> lock(impl_->bad_mutex);
  return impl_->skipped;
}

}  // namespace cerebra
