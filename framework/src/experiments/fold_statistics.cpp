// The spread of a metric over folds: mean, sample standard deviation and a
// t-based 95% interval (few folds: the normal quantile 1.96 would be too narrow).
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "cerebra/error.h"
#include "cerebra/experiments.h"
#include "cerebra/statistics.h"

namespace cerebra {

// Inverts the t distribution's two-sided tail by bisection on
// student_t_two_sided_p (monotone in |t|); 200 halvings reach double precision.
double student_t_quantile(double p, double degrees_of_freedom) {
  if (!(p > 0 && p < 1) || !(degrees_of_freedom > 0)) {
    throw Error("student_t_quantile: p must lie in (0, 1) and the degrees of freedom be positive");
  }
  if (p == 0.5) return 0;
  const double tail = 2 * std::min(p, 1 - p);  // two-sided p of the wanted |t|
  double low = 0, high = 1;
  while (statistics::student_t_two_sided_p(high, degrees_of_freedom) > tail) high *= 2;
  for (int i = 0; i < 200; ++i) {
    const double middle = 0.5 * (low + high);
    (statistics::student_t_two_sided_p(middle, degrees_of_freedom) > tail ? low : high) = middle;
  }
  const double t = 0.5 * (low + high);
  return p < 0.5 ? -t : t;
}

MetricSpread metric_spread(const std::vector<double>& values, double confidence) {
  if (values.empty()) throw Error("metric_spread: no values");
  MetricSpread spread;
  spread.values = values;
  const double n = static_cast<double>(values.size());
  spread.mean = std::accumulate(values.begin(), values.end(), 0.0) / n;
  if (values.size() < 2) {
    spread.low = spread.high = spread.mean;
    return spread;
  }
  double squares = 0;
  for (double v : values) squares += (v - spread.mean) * (v - spread.mean);
  spread.sd = std::sqrt(squares / (n - 1));
  const double half = student_t_quantile(0.5 + confidence / 2, n - 1) * spread.sd / std::sqrt(n);
  spread.low = spread.mean - half;
  spread.high = spread.mean + half;
  return spread;
}

}  // namespace cerebra
