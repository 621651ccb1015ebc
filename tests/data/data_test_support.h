// Shared by the data tests: the real plugins, loaded from the build, and
// small images written by the tests themselves.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>

#include "cerebra/data.h"
#include "cerebra/plugin_loader.h"
#include "test_support.h"

namespace cerebra::testing {

// Registry with this area's plugins, loaded once per test binary.
inline Registry& data_registry() {
  static Registry* registry = [] {
    auto* r = new Registry();
    PluginLoader loader(*r);
    for (const char* name : {"dataset_synthetic", "dataset_image_folder", "dataset_br35h",
                             "dataset_brain_tumor_4class", "transform_geometry",
                             "transform_intensity", "transform_augment"}) {
      const PluginRecord& record =
          loader.load(std::string(CEREBRA_PLUGIN_DIR) + "/libcerebra_" + name + ".so");
      if (record.status != PluginStatus::Loaded) {
        ADD_FAILURE() << record.message;
      }
    }
    return r;
  }();
  return *registry;
}

using Settings = std::initializer_list<std::pair<std::string, Value>>;

inline Parameters params(Settings settings) {
  Parameters p;
  for (const auto& [name, value] : settings) p.set(name, value);
  return p;
}

inline std::shared_ptr<Dataset> make_dataset(const std::string& name, Settings settings = {}) {
  return std::shared_ptr<Dataset>(
      data_registry().create_as<Dataset>(kinds::dataset, name, params(settings)));
}

inline std::shared_ptr<Transform> make_transform(const std::string& name, Settings settings = {}) {
  return std::shared_ptr<Transform>(
      data_registry().create_as<Transform>(kinds::transform, name, params(settings)));
}

inline Stage stage(const std::string& name, Settings settings = {}) {
  return make_stage(data_registry(), name, params(settings));
}

inline void write_image(const std::string& path, const cv::Mat& image,
                        const std::vector<int>& flags = {}) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  ASSERT_TRUE(cv::imwrite(path, image, flags)) << path;
}

inline void write_bytes(const std::string& path, const std::vector<unsigned char>& bytes) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

inline std::vector<unsigned char> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline std::vector<unsigned char> encode(const std::string& extension, const cv::Mat& image,
                                         const std::vector<int>& flags = {}) {
  std::vector<unsigned char> bytes;
  EXPECT_TRUE(cv::imencode(extension, image, bytes, flags));
  return bytes;
}

// A palette (colour type 3) PNG, built by hand since OpenCV only writes
// gray and RGB(A): uncompressed deflate blocks need no zlib.
inline std::vector<unsigned char> palette_png(int width, int height,
                                              const std::vector<cv::Vec3b>& palette_rgb,
                                              const std::vector<unsigned char>& indices) {
  auto crc32 = [](const unsigned char* data, std::size_t size, std::uint32_t crc) {
    crc = ~crc;
    for (std::size_t i = 0; i < size; ++i) {
      crc ^= data[i];
      for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
  };
  std::vector<unsigned char> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  auto put32 = [](std::vector<unsigned char>& out, std::uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<unsigned char>(v >> shift));
  };
  auto chunk = [&](const char* type, const std::vector<unsigned char>& data) {
    put32(png, static_cast<std::uint32_t>(data.size()));
    std::vector<unsigned char> body(type, type + 4);
    body.insert(body.end(), data.begin(), data.end());
    png.insert(png.end(), body.begin(), body.end());
    put32(png, crc32(body.data(), body.size(), 0));
  };
  std::vector<unsigned char> header;
  put32(header, static_cast<std::uint32_t>(width));
  put32(header, static_cast<std::uint32_t>(height));
  header.insert(header.end(), {8, 3, 0, 0, 0});  // 8 bits, palette, deflate, no filter, no interlace
  chunk("IHDR", header);
  std::vector<unsigned char> palette;
  for (const auto& colour : palette_rgb) palette.insert(palette.end(), {colour[0], colour[1], colour[2]});
  chunk("PLTE", palette);
  std::vector<unsigned char> raw;
  for (int y = 0; y < height; ++y) {
    raw.push_back(0);  // filter: none
    raw.insert(raw.end(), indices.begin() + y * width, indices.begin() + (y + 1) * width);
  }
  std::vector<unsigned char> zlib = {0x78, 0x01, 0x01};  // header, final stored block
  auto size = static_cast<std::uint16_t>(raw.size());
  zlib.insert(zlib.end(), {static_cast<unsigned char>(size & 0xFF), static_cast<unsigned char>(size >> 8),
                           static_cast<unsigned char>(~size & 0xFF), static_cast<unsigned char>((~size >> 8) & 0xFF)});
  zlib.insert(zlib.end(), raw.begin(), raw.end());
  std::uint32_t a = 1, b = 0;
  for (unsigned char byte : raw) {
    a = (a + byte) % 65521;
    b = (b + a) % 65521;
  }
  put32(zlib, (b << 16) | a);
  chunk("IDAT", zlib);
  chunk("IEND", {});
  return png;
}

// An image whose pixels all differ, so crops and flips are easy to check.
inline cv::Mat ramp(int width, int height, int type = CV_8UC1) {
  cv::Mat image(height, width, type);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < image.channels(); ++c)
        image.ptr<unsigned char>(y)[x * image.channels() + c] =
            static_cast<unsigned char>((y * width + x) * 7 + c * 50);
  return image;
}

// The ids of a split's samples, in order.
inline std::vector<std::string> ids(const std::vector<Sample>& samples) {
  std::vector<std::string> out;
  for (const auto& s : samples) out.push_back(s.id);
  return out;
}

// Samples per class label.
inline std::map<int, int> per_class(const std::vector<Sample>& samples) {
  std::map<int, int> counts;
  for (const auto& s : samples) ++counts[s.label];
  return counts;
}

inline std::vector<Batch> read_epoch(ImageLoader& loader, int epoch) {
  loader.start_epoch(epoch);
  std::vector<Batch> batches;
  Batch batch;
  while (loader.next(batch)) batches.push_back(batch);
  return batches;
}

}  // namespace cerebra::testing
