#include "curves.h"

#include <algorithm>
#include <cmath>

namespace cerebra::report {

namespace {

// Drops the middle of three points on one vertical or horizontal line: a
// good model's curve is mostly such runs, and the file need not carry them.
void append_point(std::vector<Point>& points, Point p) {
  const std::size_t n = points.size();
  if (n >= 2) {
    const Point& a = points[n - 2];
    const Point& b = points[n - 1];
    if ((a.x == b.x && b.x == p.x) || (a.y == b.y && b.y == p.y)) points.pop_back();
  }
  points.push_back(p);
}

}  // namespace

std::optional<RocCurve> roc_curve(const std::vector<Prediction>& predictions, int c) {
  std::vector<std::pair<double, bool>> scored;  // (score, positive)
  for (const auto& p : predictions) {
    if (p.label < 0 || static_cast<std::size_t>(c) >= p.probabilities.size()) continue;
    scored.emplace_back(p.probabilities[static_cast<std::size_t>(c)], p.label == c);
  }
  RocCurve curve;
  for (const auto& s : scored) (s.second ? curve.positives : curve.negatives) += 1;
  if (curve.positives == 0 || curve.negatives == 0) return std::nullopt;
  std::sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) { return a.first > b.first; });

  // Lower the threshold one distinct score at a time; tied scores move
  // diagonally, which is what counting ties half means for the area.
  const double P = static_cast<double>(curve.positives), N = static_cast<double>(curve.negatives);
  std::size_t tp = 0, fp = 0;
  curve.points.push_back({0, 0});
  for (std::size_t i = 0; i < scored.size();) {
    const double score = scored[i].first;
    for (; i < scored.size() && scored[i].first == score; ++i) (scored[i].second ? tp : fp) += 1;
    const Point next{static_cast<double>(fp) / N, static_cast<double>(tp) / P};
    const Point& last = curve.points.back();
    curve.auc += (next.x - last.x) * (next.y + last.y) / 2;
    append_point(curve.points, next);
  }
  return curve;
}

std::vector<ReliabilityBin> reliability_bins(const std::vector<Prediction>& predictions, int bins) {
  std::vector<ReliabilityBin> out(static_cast<std::size_t>(std::max(bins, 1)));
  for (std::size_t b = 0; b < out.size(); ++b) {
    out[b].lower = static_cast<double>(b) / static_cast<double>(out.size());
    out[b].upper = static_cast<double>(b + 1) / static_cast<double>(out.size());
  }
  for (const auto& p : predictions) {
    if (p.label < 0 || p.probabilities.empty()) continue;
    const auto top = std::max_element(p.probabilities.begin(), p.probabilities.end());
    const double confidence = *top;
    const int predicted = static_cast<int>(top - p.probabilities.begin());
    auto b = static_cast<std::size_t>(std::clamp(confidence, 0.0, 1.0) * static_cast<double>(out.size()));
    ReliabilityBin& bin = out[std::min(b, out.size() - 1)];
    bin.count += 1;
    bin.confidence += confidence;
    bin.accuracy += predicted == p.label ? 1 : 0;
  }
  for (auto& bin : out) {
    if (bin.count == 0) continue;
    bin.confidence /= static_cast<double>(bin.count);
    bin.accuracy /= static_cast<double>(bin.count);
  }
  return out;
}

double expected_calibration_error(const std::vector<ReliabilityBin>& bins) {
  double total = 0, error = 0;
  for (const auto& bin : bins) {
    total += static_cast<double>(bin.count);
    error += static_cast<double>(bin.count) * std::abs(bin.accuracy - bin.confidence);
  }
  return total > 0 ? error / total : 0;
}

}  // namespace cerebra::report
