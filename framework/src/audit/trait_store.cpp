// Measuring many images in parallel, with a cache keyed by content so that a
// second audit (or a second run's near-duplicate split) decodes nothing.
#include <atomic>
#include <filesystem>
#include <mutex>
#include <cstring>
#include <thread>
#include <unordered_map>

#include <fmt/format.h>

#include "cerebra/audit.h"
#include "cerebra/data.h"
#include "cerebra/error.h"
#include "cerebra/files.h"

namespace cerebra {

namespace {

namespace fs = std::filesystem;

// Bump when ImageTraits or its measurement changes: old entries then miss.
constexpr const char* kCacheName = "audit-traits-v2.bin";
constexpr const char kMagic[] = "cerebra audit traits 2\n";

// Records are the fingerprint's length and bytes, then the fields below in
// this machine's byte order (a cache is never shared between machines).
template <typename T>
void put(std::string& out, const T& value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof value);
}

template <typename T>
bool take(const std::string& in, std::size_t& at, T& value) {
  if (at + sizeof value > in.size()) return false;
  std::memcpy(&value, in.data() + at, sizeof value);
  at += sizeof value;
  return true;
}

void encode(std::string& out, const std::string& fingerprint, const ImageTraits& t) {
  put(out, static_cast<std::uint32_t>(fingerprint.size()));
  out += fingerprint;
  put(out, t.width), put(out, t.height), put(out, t.channels);
  put(out, t.mean), put(out, t.spread), put(out, t.black_share), put(out, t.border_mean);
  put(out, t.histogram), put(out, t.phash), put(out, t.thumb);
}

bool decode(const std::string& in, std::size_t& at, std::string& fingerprint, ImageTraits& t) {
  std::uint32_t length = 0;
  if (!take(in, at, length) || at + length > in.size()) return false;
  fingerprint = in.substr(at, length);
  at += length;
  t.readable = true;
  return take(in, at, t.width) && take(in, at, t.height) && take(in, at, t.channels) && take(in, at, t.mean) &&
         take(in, at, t.spread) && take(in, at, t.black_share) && take(in, at, t.border_mean) &&
         take(in, at, t.histogram) && take(in, at, t.phash) && take(in, at, t.thumb);
}

ImageTraits measure_sample(const Dataset& dataset, const Sample& sample) {
  try {
    // 64 pixels a side is all the hash and thumbnail need; JPEGs then decode
    // at 1/8 scale. The stored size comes from the header when it differs.
    cv::Mat image = dataset.load(sample, LoadHint{64, 64});
    int width = 0, height = 0;
    std::error_code error;
    if (!fs::is_regular_file(sample.id, error) || !stored_image_size(sample.id, width, height)) width = height = 0;
    return measure_image(image, width, height);
  } catch (const std::exception& error) {
    ImageTraits traits;
    traits.error = brief(error);
    return traits;
  }
}

}  // namespace

struct TraitStore::Impl {
  std::string path;
  std::unordered_map<std::string, ImageTraits> cached, added;
  std::mutex mutex;
  std::atomic<std::size_t> hits{0}, misses{0};

  void load() {
    std::error_code error;
    if (path.empty() || !fs::exists(path, error)) return;
    std::string text;
    try {
      text = read_file(path);
    } catch (const Error&) {
      return;  // an unreadable cache is a cold cache
    }
    if (text.compare(0, sizeof kMagic - 1, kMagic) != 0) return;  // another version: start afresh
    std::size_t at = sizeof kMagic - 1;
    std::string fingerprint;
    ImageTraits traits;
    while (at < text.size() && decode(text, at, fingerprint, traits)) cached.emplace(fingerprint, traits);
  }
};

TraitStore::TraitStore(std::string cache_dir) : impl_(std::make_unique<Impl>()) {
  if (!cache_dir.empty()) impl_->path = (fs::path(cache_dir) / kCacheName).string();
  impl_->load();
}

TraitStore::~TraitStore() = default;

void TraitStore::measure(const Dataset& dataset, const std::vector<Sample>& samples, int threads,
                         std::vector<std::string>& fingerprints, std::vector<ImageTraits>& traits) {
  fingerprints.assign(samples.size(), {});
  traits.assign(samples.size(), {});
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (std::size_t i = next++; i < samples.size(); i = next++) {
      try {
        fingerprints[i] = dataset.fingerprint(samples[i]);
      } catch (const std::exception& error) {
        traits[i].error = brief(error);
        continue;
      }
      if (auto it = impl_->cached.find(fingerprints[i]); it != impl_->cached.end()) {
        traits[i] = it->second;
        ++impl_->hits;
        continue;
      }
      traits[i] = measure_sample(dataset, samples[i]);
      ++impl_->misses;
      if (traits[i].readable) {
        std::lock_guard<std::mutex> lock(impl_->mutex);
        impl_->added.emplace(fingerprints[i], traits[i]);
      }
    }
  };
  const int count = std::max(1, threads > 0 ? threads : default_loader_threads());
  std::vector<std::thread> pool;
  for (int t = 1; t < count; ++t) pool.emplace_back(work);
  work();
  for (auto& thread : pool) thread.join();
}

std::string TraitStore::save() {
  if (impl_->path.empty() || impl_->added.empty()) return "";
  std::string text = kMagic;
  for (auto* map : {&impl_->cached, &impl_->added}) {
    for (const auto& [fingerprint, traits] : *map) encode(text, fingerprint, traits);
  }
  try {
    std::error_code error;
    fs::create_directories(fs::path(impl_->path).parent_path(), error);
    write_file_atomically(impl_->path, text);
  } catch (const std::exception& error) {
    return "the trait cache was not saved (the next audit decodes again): " + brief(error);
  }
  impl_->cached.merge(impl_->added);
  impl_->added.clear();
  return "";
}

std::size_t TraitStore::hits() const { return impl_->hits; }
std::size_t TraitStore::misses() const { return impl_->misses; }

}  // namespace cerebra
