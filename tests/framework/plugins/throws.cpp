// Registers one component, then throws: the host must register nothing from it.
#include <stdexcept>

#include "cerebra/plugin_abi.h"
#include "cerebra/transform.h"

namespace {

class Noop : public cerebra::Transform {
 public:
  explicit Noop(const cerebra::Parameters&) {}
  bool is_random() const override { return false; }
  cv::Mat apply(const cv::Mat& image, std::mt19937_64&) const override { return image; }
};

void register_components(cerebra::Registry& registry) {
  registry.add<Noop>(cerebra::kinds::transform, "test_half_registered", "Never visible", {});
  throw std::runtime_error("simulated failure while registering");
}

}  // namespace

CEREBRA_PLUGIN("test_throws", "0.0.1", "Throws from register", register_components)
