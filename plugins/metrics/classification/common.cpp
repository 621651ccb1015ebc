#include "common.h"

#include <algorithm>
#include <cmath>

#include "cerebra/error.h"

namespace cerebra::metrics {

nlohmann::json to_json(const Figure& figure) {
  if (!figure || !std::isfinite(*figure)) return nullptr;
  return *figure;
}

nlohmann::json to_json(const std::optional<std::pair<double, double>>& interval) {
  if (!interval) return nullptr;
  return nlohmann::json::array({interval->first, interval->second});
}

Average parse_average(const std::string& text) {
  if (text == "auto") return Average::Auto;
  if (text == "macro") return Average::Macro;
  if (text == "weighted") return Average::Weighted;
  if (text == "binary") return Average::Binary;
  throw Error("average '" + text + "' is not one of auto, macro, weighted, binary");
}

const char* to_string(Average average) {
  switch (average) {
    case Average::Auto: return "auto";
    case Average::Macro: return "macro";
    case Average::Weighted: return "weighted";
    case Average::Binary: return "binary";
  }
  return "auto";
}

void add_average_parameter(Schema& schema) {
  schema
      .add_string("average", "auto",
                  "which figure is the headline 'value': auto (binary for two classes with a "
                  "positive class, macro otherwise), macro, weighted, or binary")
      .one_of({"auto", "macro", "weighted", "binary"});
}

Average average_from(const Parameters& parameters) {
  if (!parameters.has("average")) return Average::Auto;
  return parse_average(parameters.get_string("average"));
}

std::int64_t int_parameter(const Parameters& parameters, const std::string& name,
                           std::int64_t fallback) {
  return parameters.has(name) ? parameters.get_int(name) : fallback;
}

bool binary_applies(const MetricContext& context) {
  return context.class_names.size() == 2 && context.positive_class >= 0;
}

Average check_context(const MetricContext& context, Average requested,
                      const std::string& metric_name) {
  if (context.class_names.empty()) {
    throw Error("metric '" + metric_name + "': the context names no classes");
  }
  if (context.positive_class >= static_cast<int>(context.class_names.size())) {
    throw Error("metric '" + metric_name + "': positive class " +
                std::to_string(context.positive_class) + " is out of range for " +
                std::to_string(context.class_names.size()) + " classes");
  }
  if (context.bootstrap < 0) {
    throw Error("metric '" + metric_name + "': bootstrap resamples must not be negative");
  }
  if (requested == Average::Binary && !binary_applies(context)) {
    throw Error("metric '" + metric_name +
                "': average = \"binary\" needs two classes and a positive class");
  }
  if (requested == Average::Auto) {
    return binary_applies(context) ? Average::Binary : Average::Macro;
  }
  return requested;
}

std::size_t argmax(const float* row, std::size_t classes) {
  std::size_t best = 0;
  for (std::size_t c = 1; c < classes; ++c) {
    if (row[c] > row[best]) best = c;
  }
  return best;
}

void check_row(const float* row, std::size_t classes, std::int64_t label,
               const std::string& metric_name) {
  if (label >= static_cast<std::int64_t>(classes)) {
    throw Error("metric '" + metric_name + "': label " + std::to_string(label) +
                " is out of range for " + std::to_string(classes) + " classes");
  }
  for (std::size_t c = 0; c < classes; ++c) {
    if (!std::isfinite(row[c])) {
      throw Error("metric '" + metric_name + "': probability for class " + std::to_string(c) +
                  " is not finite");
    }
  }
}

std::size_t bin_of(double value, std::size_t bins) {
  if (!(value > 0.0)) return 0;
  if (value >= 1.0) return bins - 1;
  return std::min(bins - 1, static_cast<std::size_t>(value * static_cast<double>(bins)));
}

void resample(const std::vector<std::int64_t>& counts, std::int64_t mass, std::int64_t draws,
              std::mt19937_64& rng, std::vector<std::int64_t>& out) {
  out.assign(counts.size(), 0);
  std::int64_t remaining_draws = draws;
  std::int64_t remaining_mass = mass;
  for (std::size_t i = 0; i < counts.size() && remaining_draws > 0; ++i) {
    if (counts[i] == 0) continue;
    // The conditional law of cell i given the earlier cells is
    // Binomial(remaining draws, count_i / remaining mass).
    if (counts[i] >= remaining_mass) {
      out[i] = remaining_draws;
    } else {
      std::binomial_distribution<std::int64_t> binomial(
          remaining_draws, static_cast<double>(counts[i]) / static_cast<double>(remaining_mass));
      out[i] = binomial(rng);
    }
    remaining_draws -= out[i];
    remaining_mass -= counts[i];
  }
}

std::optional<std::pair<double, double>> percentile_interval(const std::vector<Figure>& values) {
  std::vector<double> defined;
  defined.reserve(values.size());
  for (const auto& v : values) {
    if (v && std::isfinite(*v)) defined.push_back(*v);
  }
  if (defined.empty()) return std::nullopt;
  std::sort(defined.begin(), defined.end());
  auto quantile = [&](double q) {
    double position = q * static_cast<double>(defined.size() - 1);
    auto below = static_cast<std::size_t>(std::floor(position));
    std::size_t above = std::min(below + 1, defined.size() - 1);
    double fraction = position - static_cast<double>(below);
    return defined[below] + fraction * (defined[above] - defined[below]);
  };
  return std::make_pair(quantile(0.025), quantile(0.975));
}

std::int64_t ConfusionCounts::total() const {
  std::int64_t sum = 0;
  for (auto n : cells) sum += n;
  return sum;
}

std::int64_t ConfusionCounts::correct() const {
  std::int64_t sum = 0;
  for (std::size_t c = 0; c < classes; ++c) sum += at(c, c);
  return sum;
}

std::int64_t ConfusionCounts::support(std::size_t c) const {
  std::int64_t sum = 0;
  for (std::size_t p = 0; p < classes; ++p) sum += at(c, p);
  return sum;
}

std::int64_t ConfusionCounts::predicted(std::size_t c) const {
  std::int64_t sum = 0;
  for (std::size_t t = 0; t < classes; ++t) sum += at(t, c);
  return sum;
}

Averages average(const std::vector<ClassFigure>& figures,
                 const std::vector<std::int64_t>& support) {
  double sum = 0.0, weighted_sum = 0.0, weight = 0.0;
  std::size_t counted = 0;
  for (std::size_t c = 0; c < figures.size(); ++c) {
    if (!figures[c].value) continue;
    sum += *figures[c].value;
    ++counted;
    weighted_sum += *figures[c].value * static_cast<double>(support[c]);
    weight += static_cast<double>(support[c]);
  }
  Averages out;
  if (counted > 0) out.macro = sum / static_cast<double>(counted);
  if (weight > 0.0) out.weighted = weighted_sum / weight;
  return out;
}

}  // namespace cerebra::metrics
