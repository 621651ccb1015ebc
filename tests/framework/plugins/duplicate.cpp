// Built twice (TWIN = a, b): both libraries register the metric name
// "test_duplicate", which the host must refuse the second time.
#include "cerebra/metric.h"
#include "cerebra/plugin_abi.h"

namespace {

class Constant : public cerebra::Metric {
 public:
  explicit Constant(const cerebra::Parameters&) {}
  void reset(const cerebra::MetricContext&) override {}
  void update(const float*, const std::int64_t*, std::size_t) override {}
  nlohmann::json compute() const override { return {{"value", 1.0}}; }
};

void register_components(cerebra::Registry& registry) {
  registry.add<Constant>(cerebra::kinds::metric, "test_duplicate", "Twin (" TWIN ")", {});
}

}  // namespace

CEREBRA_PLUGIN("test_duplicate_" TWIN, "0.0.1", "Registers a name its twin also registers",
               register_components)
