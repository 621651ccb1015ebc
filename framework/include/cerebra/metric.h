// Interface of `metric` components. Metrics accumulate batch by batch, so
// evaluation memory does not grow with the dataset.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cerebra/registry.h"

namespace cerebra {

struct MetricContext {
  std::vector<std::string> class_names;
  int positive_class = -1;     // for the binary figure of two-class data
  std::int64_t bootstrap = 0;  // resamples for a 95% confidence interval; 0 for none
  std::uint64_t bootstrap_seed = 7;
};

class Metric : public Component {
 public:
  ~Metric() override;

  virtual void reset(const MetricContext& context) = 0;
  // `probabilities` holds count rows of class_names.size() values.
  virtual void update(const float* probabilities, const std::int64_t* labels,
                      std::size_t count) = 0;
  // At least {"value": headline number}; per class, macro and weighted
  // averages, the binary figure and confidence intervals where they apply.
  virtual nlohmann::json compute() const = 0;
};

}  // namespace cerebra
