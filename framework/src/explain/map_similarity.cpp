// The two map comparisons of the randomisation check (explain_sanity.h).
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include <opencv2/imgproc.hpp>

#include "cerebra/error.h"
#include "cerebra/explain_sanity.h"

namespace cerebra {

namespace {

void require_same_maps(const cv::Mat& a, const cv::Mat& b) {
  if (a.size() != b.size() || a.type() != CV_32F || b.type() != CV_32F) {
    throw Error("maps to compare must be single-channel float maps of the same size");
  }
}

// Ranks 1..n of the values, ties sharing the mean of their ranks.
std::vector<double> ranks(const cv::Mat& map) {
  const cv::Mat flat = map.reshape(1, 1);
  const auto n = static_cast<std::size_t>(flat.cols);
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  const float* v = flat.ptr<float>(0);
  std::sort(order.begin(), order.end(), [&](std::size_t i, std::size_t j) { return v[i] < v[j]; });
  std::vector<double> rank(n);
  for (std::size_t i = 0; i < n;) {
    std::size_t j = i;
    while (j + 1 < n && v[order[j + 1]] == v[order[i]]) ++j;
    const double mean_rank = 0.5 * static_cast<double>(i + j) + 1.0;
    for (std::size_t k = i; k <= j; ++k) rank[order[k]] = mean_rank;
    i = j + 1;
  }
  return rank;
}

double pearson(const std::vector<double>& x, const std::vector<double>& y) {
  const double n = static_cast<double>(x.size());
  const double mx = std::accumulate(x.begin(), x.end(), 0.0) / n, my = std::accumulate(y.begin(), y.end(), 0.0) / n;
  double sxy = 0, sxx = 0, syy = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  if (sxx <= 0 || syy <= 0) return 0.0;  // a constant map ranks nothing
  return sxy / std::sqrt(sxx * syy);
}

cv::Mat gaussian_mean(const cv::Mat& image) {
  cv::Mat out;
  cv::GaussianBlur(image, out, cv::Size(11, 11), 1.5, 1.5, cv::BORDER_REFLECT);
  return out;
}

}  // namespace

double spearman_correlation(const cv::Mat& a, const cv::Mat& b) {
  require_same_maps(a, b);
  if (a.total() < 2) return 0.0;
  return pearson(ranks(a), ranks(b));
}

double structural_similarity(const cv::Mat& a, const cv::Mat& b) {
  require_same_maps(a, b);
  const double c1 = 0.01 * 0.01, c2 = 0.03 * 0.03;  // data range 1
  cv::Mat x, y;
  a.convertTo(x, CV_64F);
  b.convertTo(y, CV_64F);
  const cv::Mat mx = gaussian_mean(x), my = gaussian_mean(y);
  const cv::Mat sxx = gaussian_mean(x.mul(x)) - mx.mul(mx);
  const cv::Mat syy = gaussian_mean(y.mul(y)) - my.mul(my);
  const cv::Mat sxy = gaussian_mean(x.mul(y)) - mx.mul(my);
  cv::Mat numerator = (2 * mx.mul(my) + c1).mul(2 * sxy + c2);
  cv::Mat denominator = (mx.mul(mx) + my.mul(my) + c1).mul(sxx + syy + c2);
  cv::Mat ssim;
  cv::divide(numerator, denominator, ssim);
  return cv::mean(ssim)[0];
}

}  // namespace cerebra
