#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include <fmt/format.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "cerebra/dataset.h"
#include "cerebra/callback.h"
#include "cerebra/error.h"
#include "cerebra/metric.h"
#include "cerebra/schedule.h"
#include "cerebra/transform.h"

namespace cerebra {

Dataset::~Dataset() = default;
Transform::~Transform() = default;
ChannelMap Transform::channel_map(const cv::Mat&) const {
  throw Error("a transform says it is a channel map (is_channel_map) but does not give one");
}
Metric::~Metric() = default;
Schedule::~Schedule() = default;
Callback::~Callback() = default;

cv::Mat Dataset::load(const Sample& sample, const LoadHint& hint) const { return read_image(sample.id, hint); }

std::string Dataset::fingerprint(const Sample& sample) const { return hash_file(sample.id); }

namespace {
std::vector<unsigned char> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int open_error = errno;
    // A link that dangles or loops gets that reason, not ENOENT's or ELOOP's words.
    const std::string problem = missing_path_reason(path);
    throw Error(path + ": " + (problem.empty() ? "cannot open: " + std::string(std::strerror(open_error)) : problem));
  }
  std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw Error(path + ": read failed: " + std::strerror(errno));
  return bytes;
}
// libjpeg decodes a JPEG cut short without failing: it warns and fills the
// missing rows with gray, so a truncated download would train as a real scan.
// Entropy-coded data cannot contain a marker (0xFF is always stuffed), so a
// complete file has an end-of-image marker (FF D9) after its last
// start-of-scan (FF DA); an EXIF thumbnail's own markers come before both.
bool jpeg_is_truncated(const std::vector<unsigned char>& bytes) {
  if (bytes.size() < 4 || bytes[0] != 0xFF || bytes[1] != 0xD8) return false;
  std::size_t last_scan = 0, last_end = 0;
  for (std::size_t i = 2; i + 1 < bytes.size(); ++i) {
    if (bytes[i] != 0xFF) continue;
    if (bytes[i + 1] == 0xDA) last_scan = i;
    else if (bytes[i + 1] == 0xD9) last_end = i;
  }
  return last_scan != 0 && last_end < last_scan;
}

// Width, height and component count from a JPEG's start-of-frame header, for
// the Huffman-coded kinds libjpeg can decode at a reduced scale (baseline,
// extended, progressive); false for anything else.
bool jpeg_frame(const std::vector<unsigned char>& bytes, int& width, int& height, int& components) {
  if (bytes.size() < 4 || bytes[0] != 0xFF || bytes[1] != 0xD8) return false;
  std::size_t i = 2;
  while (i + 9 < bytes.size()) {
    if (bytes[i] != 0xFF) return false;
    const unsigned char marker = bytes[i + 1];
    if (marker == 0xFF) {  // fill byte
      ++i;
      continue;
    }
    const std::size_t length = (static_cast<std::size_t>(bytes[i + 2]) << 8) | bytes[i + 3];
    if (marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC) {
      if (marker > 0xC2) return false;  // lossless, hierarchical or arithmetic-coded
      height = (bytes[i + 5] << 8) | bytes[i + 6];
      width = (bytes[i + 7] << 8) | bytes[i + 8];
      components = bytes[i + 9];
      return width > 0 && height > 0;
    }
    if (marker == 0xDA || length < 2) return false;  // scan before any frame: malformed
    i += 2 + length;
  }
  return false;
}

// The IMREAD_REDUCED_* flag for a JPEG under `hint`, or -1 to decode in full.
int reduced_flag(const std::vector<unsigned char>& bytes, const LoadHint& hint) {
  if (hint.min_width <= 0 || hint.min_height <= 0) return -1;
  int width = 0, height = 0, components = 0;
  if (!jpeg_frame(bytes, width, height, components) || (components != 1 && components != 3)) return -1;
  int factor = 1;
  // libjpeg's reduced output is ceil(side / factor).
  while (factor < 8 && (width + 2 * factor - 1) / (2 * factor) >= hint.min_width &&
         (height + 2 * factor - 1) / (2 * factor) >= hint.min_height) {
    factor *= 2;
  }
  if (factor == 1) return -1;
  const bool gray = components == 1;
  switch (factor) {
    case 2: return gray ? cv::IMREAD_REDUCED_GRAYSCALE_2 : cv::IMREAD_REDUCED_COLOR_2;
    case 4: return gray ? cv::IMREAD_REDUCED_GRAYSCALE_4 : cv::IMREAD_REDUCED_COLOR_4;
    default: return gray ? cv::IMREAD_REDUCED_GRAYSCALE_8 : cv::IMREAD_REDUCED_COLOR_8;
  }
}
}  // namespace

cv::Mat read_image(const std::string& path, const LoadHint& hint) {
  std::vector<unsigned char> bytes = read_bytes(path);
  if (bytes.empty()) throw Error(path + ": empty file (0 bytes), not an image");
  if (jpeg_is_truncated(bytes)) {
    throw Error(path + ": truncated JPEG (no end-of-image marker after the last scan; " +
                std::to_string(bytes.size()) + " bytes)");
  }
  cv::Mat image;
  try {
    const int reduced = reduced_flag(bytes, hint);
    image = cv::imdecode(bytes, (reduced >= 0 ? reduced : cv::IMREAD_UNCHANGED) | cv::IMREAD_IGNORE_ORIENTATION);
  } catch (const cv::Exception& error) {
    throw Error(path + ": cannot decode image: " + error.msg);
  }
  if (image.empty()) {
    throw Error(path + ": not a readable image (unknown format, truncated or corrupt; " +
                std::to_string(bytes.size()) + " bytes)");
  }
  // 16-bit and float images are scaled to 8 bits over their own range, so a
  // 12-bit scan stored in 16 bits is not nearly black.
  if (image.depth() != CV_8U) {
    double low = 0, high = 0;
    cv::minMaxLoc(image.reshape(1), &low, &high);
    cv::Mat scaled;
    double scale = high > low ? 255.0 / (high - low) : 1.0;
    image.convertTo(scaled, CV_8U, scale, -low * scale);
    image = scaled;
  }
  switch (image.channels()) {
    case 1:
    case 3: return image;
    case 2: {
      cv::Mat gray;
      cv::extractChannel(image, gray, 0);
      return gray;
    }
    case 4: {
      cv::Mat bgr;
      cv::cvtColor(image, bgr, cv::COLOR_BGRA2BGR);
      return bgr;
    }
    default:
      throw Error(fmt::format("{}: unsupported image with {} channels", path, image.channels()));
  }
}

bool stored_image_size(const std::string& path, int& width, int& height) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  // A frame header follows the EXIF and ICC blocks, each at most 64 KiB.
  std::vector<unsigned char> head(256 * 1024);
  in.read(reinterpret_cast<char*>(head.data()), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<std::size_t>(in.gcount()));
  int components = 0;
  if (jpeg_frame(head, width, height, components)) return true;
  static const unsigned char png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (head.size() >= 24 && std::equal(png, png + 8, head.begin()) &&
      std::equal(head.begin() + 12, head.begin() + 16, "IHDR")) {
    auto be32 = [&](std::size_t at) {
      return static_cast<int>((head[at] << 24) | (head[at + 1] << 16) | (head[at + 2] << 8) | head[at + 3]);
    };
    width = be32(16);
    height = be32(20);
    return width > 0 && height > 0;
  }
  return false;
}

std::string hash_file(const std::string& path) {
  std::vector<unsigned char> bytes = read_bytes(path);
  std::uint64_t hash = 1469598103934665603ull;
  for (unsigned char byte : bytes) {
    hash ^= byte;
    hash *= 1099511628211ull;
  }
  return fmt::format("{:016x}-{}", hash, bytes.size());
}

}  // namespace cerebra
