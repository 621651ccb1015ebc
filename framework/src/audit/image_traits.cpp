// The traits of one image: size, intensity statistics, a perceptual hash and
// a thumbnail, all from one decode.
#include <algorithm>
#include <cmath>

#include <opencv2/imgproc.hpp>

#include "cerebra/audit.h"

namespace cerebra {

namespace {

cv::Mat to_gray(const cv::Mat& image) {
  if (image.channels() == 1) return image;
  cv::Mat gray;
  cv::cvtColor(image, gray, cv::COLOR_BGR2GRAY);
  return gray;
}

// DCT perceptual hash: the 8x8 lowest frequencies of a 32x32 area-resized
// copy, each bit saying whether a coefficient lies above their median.
// Resizing and re-encoding barely move low frequencies, so copies keep most
// bits; an unrelated image agrees on about half of them.
std::uint64_t perceptual_hash(const cv::Mat& gray) {
  cv::Mat small, real, frequencies;
  cv::resize(gray, small, cv::Size(32, 32), 0, 0, cv::INTER_AREA);
  small.convertTo(real, CV_32F);
  cv::dct(real, frequencies);
  std::array<float, 64> low{};
  for (int y = 0; y < 8; ++y) {
    for (int x = 0; x < 8; ++x) low[y * 8 + x] = frequencies.at<float>(y, x);
  }
  std::array<float, 64> sorted = low;
  std::nth_element(sorted.begin(), sorted.begin() + 32, sorted.end());
  const float median = sorted[32];
  std::uint64_t hash = 0;
  for (int i = 0; i < 64; ++i) {
    if (low[i] > median) hash |= std::uint64_t{1} << i;
  }
  return hash;
}

void intensity_statistics(const cv::Mat& gray, ImageTraits& traits) {
  cv::Scalar mean, spread;
  cv::meanStdDev(gray, mean, spread);
  traits.mean = mean[0];
  traits.spread = spread[0];
  std::array<std::size_t, 8> bins{};
  std::size_t black = 0;
  for (int y = 0; y < gray.rows; ++y) {
    const std::uint8_t* row = gray.ptr<std::uint8_t>(y);
    for (int x = 0; x < gray.cols; ++x) {
      ++bins[row[x] >> 5];
      black += row[x] <= 16;
    }
  }
  const double pixels = static_cast<double>(gray.total());
  for (int b = 0; b < 8; ++b) traits.histogram[b] = static_cast<float>(bins[b] / pixels);
  traits.black_share = black / pixels;
  // The frame: scanners and exports differ in what surrounds the head.
  const int band_y = std::max(1, gray.rows / 16), band_x = std::max(1, gray.cols / 16);
  cv::Mat inner = cv::Mat::zeros(gray.size(), CV_8U);
  inner(cv::Rect(band_x, band_y, std::max(0, gray.cols - 2 * band_x), std::max(0, gray.rows - 2 * band_y))) = 255;
  cv::Mat frame;
  cv::bitwise_not(inner, frame);
  traits.border_mean = cv::countNonZero(frame) > 0 ? cv::mean(gray, frame)[0] : traits.mean;
}

}  // namespace

ImageTraits measure_image(const cv::Mat& image, int stored_width, int stored_height) {
  ImageTraits traits;
  if (image.empty() || image.depth() != CV_8U) {
    traits.error = "not an 8-bit image";
    return traits;
  }
  traits.readable = true;
  traits.width = stored_width > 0 ? stored_width : image.cols;
  traits.height = stored_height > 0 ? stored_height : image.rows;
  traits.channels = image.channels();
  cv::Mat gray = to_gray(image);
  intensity_statistics(gray, traits);
  traits.phash = perceptual_hash(gray);
  cv::Mat thumb;
  cv::resize(gray, thumb, cv::Size(kThumbSide, kThumbSide), 0, 0, cv::INTER_AREA);
  std::copy(thumb.begin<std::uint8_t>(), thumb.end<std::uint8_t>(), traits.thumb.begin());
  return traits;
}

int hamming(std::uint64_t a, std::uint64_t b) { return __builtin_popcountll(a ^ b); }

double thumb_correlation(const ImageTraits& a, const ImageTraits& b) {
  const double n = static_cast<double>(a.thumb.size());
  double sa = 0, sb = 0;
  for (std::size_t i = 0; i < a.thumb.size(); ++i) {
    sa += a.thumb[i];
    sb += b.thumb[i];
  }
  const double ma = sa / n, mb = sb / n;
  double cov = 0, va = 0, vb = 0;
  for (std::size_t i = 0; i < a.thumb.size(); ++i) {
    const double da = a.thumb[i] - ma, db = b.thumb[i] - mb;
    cov += da * db;
    va += da * da;
    vb += db * db;
  }
  if (va == 0 || vb == 0) return va == vb && std::abs(ma - mb) < 1 ? 1.0 : 0.0;
  return cov / std::sqrt(va * vb);
}

namespace {

cv::Mat thumb_matrix(const ImageTraits& t) {
  cv::Mat bytes(kThumbSide, kThumbSide, CV_8U, const_cast<std::uint8_t*>(t.thumb.data())), real;
  bytes.convertTo(real, CV_32F);
  return real;
}

// The centre 3/4 of a thumbnail seen through a window `scale` times the
// plain one's side, shifted by (dx, dy) pixels: what a crop of it looks like.
cv::Mat window(const cv::Mat& thumb, double scale, double dx, double dy) {
  const double out = kThumbSide * 0.75, side = out * scale;
  const double x = (kThumbSide - side) / 2 + dx, y = (kThumbSide - side) / 2 + dy;
  cv::Mat map = (cv::Mat_<double>(2, 3) << side / out, 0, x, 0, side / out, y), view;
  cv::warpAffine(thumb, view, map, cv::Size(static_cast<int>(out), static_cast<int>(out)),
                 cv::INTER_LINEAR | cv::WARP_INVERSE_MAP, cv::BORDER_REPLICATE);
  return view;
}

double correlation(const cv::Mat& x, const cv::Mat& y) {
  cv::Scalar mx, sx, my, sy;
  cv::meanStdDev(x, mx, sx);
  cv::meanStdDev(y, my, sy);
  if (sx[0] == 0 || sy[0] == 0) return 0;
  return cv::mean((x - mx[0]).mul(y - my[0]))[0] / (sx[0] * sy[0]);
}

}  // namespace

double aligned_correlation(const ImageTraits& a, const ImageTraits& b) {
  const cv::Mat ta = thumb_matrix(a), tb = thumb_matrix(b);
  const cv::Mat plain_a = window(ta, 1, 0, 0), plain_b = window(tb, 1, 0, 0);
  // fit(whole, crop, step, dx, dy): the crop against the other seen through a
  // window 2% smaller per step, shifted by (dx, dy).
  auto fit = [&](bool crop_is_b, int step, double dx, double dy) {
    return correlation(window(crop_is_b ? ta : tb, 1.0 - 0.02 * step, dx, dy), crop_is_b ? plain_b : plain_a);
  };
  // Coarse: which one is the crop, and by how much.
  bool crop_is_b = true;
  int step = 1;
  double best = -1;
  for (const bool b_cropped : {true, false}) {
    for (int s = 1; s <= 5; ++s) {
      const double c = fit(b_cropped, s, 0, 0);
      if (c > best) best = c, crop_is_b = b_cropped, step = s;
    }
  }
  // Then climb to the best shift in half pixels (at most 2 away), and last
  // settle the scale at that shift.
  double x = 0, y = 0;
  for (bool moved = true; moved;) {
    moved = false;
    const double from_x = x, from_y = y;
    for (double dy = -0.5; dy <= 0.5; dy += 0.5) {
      for (double dx = -0.5; dx <= 0.5; dx += 0.5) {
        const double nx = from_x + dx, ny = from_y + dy;
        if ((dx == 0 && dy == 0) || std::abs(nx) > 2 || std::abs(ny) > 2) continue;
        const double c = fit(crop_is_b, step, nx, ny);
        if (c > best) best = c, x = nx, y = ny, moved = true;
      }
    }
  }
  for (int s : {step - 1, step + 1}) {
    if (s >= 1 && s <= 5) best = std::max(best, fit(crop_is_b, s, x, y));
  }
  return std::max(best, correlation(plain_a, plain_b));
}

bool near_duplicates(const ImageTraits& a, const ImageTraits& b, const NearOptions& options) {
  if (!a.readable || !b.readable || hamming(a.phash, b.phash) > options.max_hamming) return false;
  const double plain = thumb_correlation(a, b);
  if (plain >= options.min_correlation) return true;
  // A crop of a few percent still correlates above 0.6 unaligned (0.8 for
  // the test's 2% crops); below, aligning is not worth its cost.
  return plain >= 0.6 && aligned_correlation(a, b) >= options.min_aligned;
}

std::string name_pattern(const std::string& path) {
  const auto slash = path.find_last_of('/');
  const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  std::string pattern;
  for (char c : name) {
    const bool digit = c >= '0' && c <= '9';
    if (!digit) pattern += c;
    else if (pattern.empty() || pattern.back() != '#') pattern += '#';
  }
  return pattern;
}

}  // namespace cerebra
