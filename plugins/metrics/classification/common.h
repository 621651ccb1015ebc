// Shared pieces of the classification metrics: bounded-memory accumulators,
// multinomial resampling for the bootstrap, and the per-class averaging rules.
// docs/metrics.md states the conventions implemented here.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "cerebra/metric.h"
#include "cerebra/parameters.h"

namespace cerebra::metrics {

// An undefined figure is an empty optional and becomes JSON null, so compute()
// never emits NaN.
using Figure = std::optional<double>;
nlohmann::json to_json(const Figure& figure);
nlohmann::json to_json(const std::optional<std::pair<double, double>>& interval);

enum class Average { Auto, Macro, Weighted, Binary };
Average parse_average(const std::string& text);
const char* to_string(Average average);
// Adds the `average` parameter to a schema.
void add_average_parameter(Schema& schema);
// The `average` parameter, or Auto when the caller passed no value (tests
// build components from empty Parameters).
Average average_from(const Parameters& parameters);
std::int64_t int_parameter(const Parameters& parameters, const std::string& name,
                           std::int64_t fallback);

// Checks a context before any accumulation: at least one class, a positive
// class in range, `binary` only where it applies. Returns the resolved average.
Average check_context(const MetricContext& context, Average requested,
                      const std::string& metric_name);
// True when the context asks for the binary figure of two-class data.
bool binary_applies(const MetricContext& context);

// Predicted class = first index of the largest probability (ties go to the
// lower index, so the result does not depend on anything but the row).
std::size_t argmax(const float* row, std::size_t classes);
// Labels outside [-1, classes) and non-finite probabilities are caller bugs;
// they are reported rather than silently binned.
void check_row(const float* row, std::size_t classes, std::int64_t label,
               const std::string& metric_name);

// Index of the bin holding `value` among `bins` equal bins on [0, 1]; values
// outside [0, 1] are clamped, 1.0 falls in the last bin.
std::size_t bin_of(double value, std::size_t bins);

// Draws `draws` items from cells weighted by `counts` (whose sum is `mass`),
// i.e. out ~ Multinomial(draws, counts / mass), by sequential binomials.
// Touches only non-zero cells and stops once every draw is placed, so a
// resample costs at most min(cells, samples) binomial draws.
void resample(const std::vector<std::int64_t>& counts, std::int64_t mass, std::int64_t draws,
              std::mt19937_64& rng, std::vector<std::int64_t>& out);

// The 2.5% and 97.5% quantiles (linear interpolation between order
// statistics) of the defined values; empty when none is defined.
std::optional<std::pair<double, double>> percentile_interval(const std::vector<Figure>& values);

// k x k counts, rows = true class, columns = predicted class.
struct ConfusionCounts {
  std::size_t classes = 0;
  std::vector<std::int64_t> cells;

  void reset(std::size_t k) {
    classes = k;
    cells.assign(k * k, 0);
  }
  std::int64_t at(std::size_t truth, std::size_t predicted) const {
    return cells[truth * classes + predicted];
  }
  std::int64_t total() const;
  std::int64_t correct() const;
  std::int64_t support(std::size_t c) const;    // true members of c
  std::int64_t predicted(std::size_t c) const;  // predicted as c
  std::int64_t tp(std::size_t c) const { return at(c, c); }
  std::int64_t fp(std::size_t c) const { return predicted(c) - tp(c); }
  std::int64_t fn(std::size_t c) const { return support(c) - tp(c); }
  std::int64_t tn(std::size_t c) const { return total() - support(c) - predicted(c) + tp(c); }
};

// Per-class figure before averaging. `undefined` marks a zero denominator;
// `value` may still hold a conventional number (precision of a class never
// predicted is 0) or be empty, which excludes the class from the averages.
struct ClassFigure {
  Figure value;
  bool undefined = false;
};

struct Averages {
  Figure macro;     // mean over classes with a value
  Figure weighted;  // support-weighted mean over classes with a value
};
Averages average(const std::vector<ClassFigure>& figures, const std::vector<std::int64_t>& support);

// Registration, one function per source file; plugin.cpp calls both.
void register_confusion_metrics(Registry& registry);
void register_score_metrics(Registry& registry);

}  // namespace cerebra::metrics
