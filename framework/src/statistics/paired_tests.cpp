#include "cerebra/statistics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <unordered_map>

#include <fmt/format.h>

#include "cerebra/error.h"

namespace cerebra::statistics {

PairedOutcomes pair_outcomes(const std::vector<std::pair<std::string, bool>>& first,
                             const std::vector<std::pair<std::string, bool>>& second) {
  PairedOutcomes paired;
  if (first.size() != second.size()) {
    paired.mismatch = fmt::format("{} test images against {}", first.size(), second.size());
    return paired;
  }
  std::unordered_map<std::string, bool> second_by_id;
  for (const auto& [id, correct] : second) {
    if (!second_by_id.emplace(id, correct).second) {
      paired.mismatch = fmt::format("the second run lists '{}' twice", id);
      return paired;
    }
  }
  std::size_t missing = 0;
  std::string example;
  std::unordered_map<std::string, bool> seen;
  for (const auto& [id, correct] : first) {
    if (!seen.emplace(id, true).second) {
      paired.mismatch = fmt::format("the first run lists '{}' twice", id);
      return paired;
    }
    auto it = second_by_id.find(id);
    if (it == second_by_id.end()) {
      if (missing++ == 0) example = id;
      continue;
    }
    paired.first_correct.push_back(correct);
    paired.second_correct.push_back(it->second);
  }
  if (missing > 0) {
    paired.mismatch = fmt::format("{} of {} test images of the first run are not in the second, e.g. '{}'",
                                  missing, first.size(), example);
    paired.first_correct.clear();
    paired.second_correct.clear();
  }
  return paired;
}

namespace {

// log C(n, k) 2^-n
double log_binomial_half(long n, long k) {
  return std::lgamma(n + 1.0) - std::lgamma(k + 1.0) - std::lgamma(n - k + 1.0) - n * std::log(2.0);
}

// A uniform index in [0, n) from 64 random bits, by rejection (no modulo bias,
// the same sequence with every standard library).
std::size_t uniform_index(std::mt19937_64& generator, std::size_t n) {
  const std::uint64_t range = static_cast<std::uint64_t>(n);
  const std::uint64_t limit = std::numeric_limits<std::uint64_t>::max() - std::numeric_limits<std::uint64_t>::max() % range;
  std::uint64_t value;
  do {
    value = generator();
  } while (value >= limit);
  return static_cast<std::size_t>(value % range);
}

// Linear interpolation between order statistics (Hyndman and Fan's type 7, numpy's default).
double quantile_of_sorted(const std::vector<double>& sorted, double q) {
  const double position = q * static_cast<double>(sorted.size() - 1);
  const auto below = static_cast<std::size_t>(std::floor(position));
  const std::size_t above = std::min(below + 1, sorted.size() - 1);
  return sorted[below] + (position - below) * (sorted[above] - sorted[below]);
}

void check_paired(const std::vector<bool>& first, const std::vector<bool>& second) {
  if (first.size() != second.size()) {
    throw Error(fmt::format("paired outcomes: {} against {} images", first.size(), second.size()));
  }
  if (first.empty()) throw Error("paired outcomes: no image");
}

}  // namespace

double mcnemar_exact_p(long b, long c) {
  if (b < 0 || c < 0) throw Error(fmt::format("McNemar: negative counts ({}, {})", b, c));
  const long n = b + c;
  if (n == 0) return 1.0;
  const long smaller = std::min(b, c);
  // log-sum-exp of the lower tail's terms: the largest term is the last one (k <= n/2).
  const double largest = log_binomial_half(n, smaller);
  double sum = 0;
  for (long k = 0; k <= smaller; ++k) sum += std::exp(log_binomial_half(n, k) - largest);
  const double p = 2.0 * std::exp(largest + std::log(sum));
  return std::min(1.0, p);
}

BootstrapInterval paired_bootstrap_accuracy_difference(const std::vector<bool>& first_correct,
                                                       const std::vector<bool>& second_correct, int resamples,
                                                       std::uint64_t seed, double confidence) {
  check_paired(first_correct, second_correct);
  if (resamples < 1) throw Error(fmt::format("bootstrap: {} resamples", resamples));
  if (!(confidence > 0 && confidence < 1)) throw Error(fmt::format("bootstrap: confidence {} outside (0, 1)", confidence));
  const std::size_t n = first_correct.size();
  // Only the per-image difference matters: -1, 0 or +1.
  std::vector<int> difference(n);
  for (std::size_t i = 0; i < n; ++i) difference[i] = int(second_correct[i]) - int(first_correct[i]);
  std::mt19937_64 generator(seed);
  std::vector<double> differences(static_cast<std::size_t>(resamples));
  for (auto& value : differences) {
    long sum = 0;
    for (std::size_t draw = 0; draw < n; ++draw) sum += difference[uniform_index(generator, n)];
    value = static_cast<double>(sum) / static_cast<double>(n);
  }
  std::sort(differences.begin(), differences.end());
  const double tail = (1 - confidence) / 2;
  return {quantile_of_sorted(differences, tail), quantile_of_sorted(differences, 1 - tail)};
}

PairedComparison compare_paired(const std::vector<bool>& first_correct, const std::vector<bool>& second_correct,
                                int resamples, std::uint64_t seed, double confidence) {
  check_paired(first_correct, second_correct);
  PairedComparison result;
  result.images = first_correct.size();
  for (std::size_t i = 0; i < result.images; ++i) {
    if (first_correct[i] && second_correct[i]) ++result.both_correct;
    else if (first_correct[i]) ++result.only_first_correct;
    else if (second_correct[i]) ++result.only_second_correct;
    else ++result.both_wrong;
  }
  const double n = static_cast<double>(result.images);
  result.first_accuracy = (result.both_correct + result.only_first_correct) / n;
  result.second_accuracy = (result.both_correct + result.only_second_correct) / n;
  // From the counts, so that it is exactly (c - b) / n.
  result.difference = (result.only_second_correct - result.only_first_correct) / n;
  result.mcnemar_p = mcnemar_exact_p(result.only_first_correct, result.only_second_correct);
  result.interval = paired_bootstrap_accuracy_difference(first_correct, second_correct, resamples, seed, confidence);
  result.resamples = resamples;
  result.seed = seed;
  result.confidence = confidence;
  return result;
}

namespace {

// The continued fraction of I_x(a, b) (modified Lentz), converging for x < (a + 1) / (a + b + 2).
double incomplete_beta_fraction(double a, double b, double x) {
  constexpr double tiny = 1e-300, epsilon = 1e-15;
  constexpr int iterations = 10000;
  double c = 1, d = 1 - (a + b) * x / (a + 1);
  if (std::fabs(d) < tiny) d = tiny;
  d = 1 / d;
  double fraction = d;
  for (int m = 1; m <= iterations; ++m) {
    const double even = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m));
    d = 1 + even * d;
    if (std::fabs(d) < tiny) d = tiny;
    c = 1 + even / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1 / d;
    fraction *= d * c;
    const double odd = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1));
    d = 1 + odd * d;
    if (std::fabs(d) < tiny) d = tiny;
    c = 1 + odd / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1 / d;
    const double step = d * c;
    fraction *= step;
    if (std::fabs(step - 1) < epsilon) return fraction;
  }
  return fraction;  // not converged to 1e-15; good to far more digits than a p-value needs
}

}  // namespace

double regularized_incomplete_beta(double a, double b, double x) {
  if (!(a > 0 && b > 0)) throw Error(fmt::format("incomplete beta: a = {}, b = {} must be positive", a, b));
  if (!(x >= 0 && x <= 1)) throw Error(fmt::format("incomplete beta: x = {} outside [0, 1]", x));
  if (x == 0 || x == 1) return x;
  const double log_front =
      std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x);
  if (x < (a + 1) / (a + b + 2)) return std::exp(log_front) * incomplete_beta_fraction(a, b, x) / a;
  // The symmetry I_x(a, b) = 1 - I_{1-x}(b, a) where the fraction converges fast.
  return 1 - std::exp(log_front) * incomplete_beta_fraction(b, a, 1 - x) / b;
}

double student_t_two_sided_p(double t, double degrees_of_freedom) {
  if (!(degrees_of_freedom > 0)) throw Error(fmt::format("t distribution: {} degrees of freedom", degrees_of_freedom));
  if (std::isnan(t)) return std::numeric_limits<double>::quiet_NaN();
  if (std::isinf(t)) return 0;
  const double x = degrees_of_freedom / (degrees_of_freedom + t * t);
  return std::clamp(regularized_incomplete_beta(degrees_of_freedom / 2, 0.5, x), 0.0, 1.0);
}

PairedTTest paired_t_test(const std::vector<double>& first, const std::vector<double>& second) {
  if (first.size() != second.size()) {
    throw Error(fmt::format("paired t-test: {} values against {}", first.size(), second.size()));
  }
  if (first.size() < 2) throw Error(fmt::format("paired t-test: {} pairs; it needs at least 2", first.size()));
  PairedTTest result;
  result.pairs = first.size();
  const double n = static_cast<double>(result.pairs);
  std::vector<double> differences(result.pairs);
  for (std::size_t i = 0; i < result.pairs; ++i) differences[i] = second[i] - first[i];
  double sum = 0;
  for (double d : differences) sum += d;
  result.mean_difference = sum / n;
  double squares = 0;
  for (double d : differences) squares += (d - result.mean_difference) * (d - result.mean_difference);
  result.standard_deviation = std::sqrt(squares / (n - 1));
  result.degrees_of_freedom = static_cast<int>(result.pairs) - 1;
  // Differences equal to rounding: no spread, so the test says nothing beyond the sign of the mean.
  const double scale = std::max(std::fabs(result.mean_difference), 1e-300);
  if (result.standard_deviation <= 1e-12 * scale) {
    result.standard_deviation = 0;
    if (result.mean_difference == 0) {
      result.t = 0;
      result.p_value = 1;
    } else {
      result.t = std::copysign(std::numeric_limits<double>::infinity(), result.mean_difference);
      result.p_value = 0;
    }
    return result;
  }
  result.t = result.mean_difference / (result.standard_deviation / std::sqrt(n));
  result.p_value = student_t_two_sided_p(result.t, result.degrees_of_freedom);
  return result;
}

}  // namespace cerebra::statistics
