#include "cerebra/architecture.h"
#include "cerebra/training.h"

#include <nlohmann/json.hpp>

#include "cerebra/error.h"

namespace cerebra {

Architecture::~Architecture() = default;

namespace {
[[noreturn]] void no_gradcam_split() {
  throw GradcamUnsupported(
      "its model does not implement ClassifierModel::forward_to_gradcam_layer and "
      "forward_from_gradcam_layer, which Grad-CAM needs (see docs/adding-a-plugin.md)");
}
}  // namespace

torch::Tensor ClassifierModel::forward_to_gradcam_layer(const torch::Tensor&) { no_gradcam_split(); }
torch::Tensor ClassifierModel::forward_from_gradcam_layer(const torch::Tensor&) { no_gradcam_split(); }
Loss::~Loss() = default;
Optimizer::~Optimizer() = default;
Objective::~Objective() = default;

// Here rather than in architecture_info.cpp because the cast needs the
// Architecture class, which needs torch; callers stay torch-free.
ArchitectureInfo architecture_info(const Registry& registry, const std::string& name,
                                   const Parameters& parameters) {
  return registry.create_as<Architecture>(kinds::architecture, name, parameters)->info();
}

std::optional<ArchitectureInfo> info_of(const Component& component) {
  const auto* architecture = dynamic_cast<const Architecture*>(&component);
  if (!architecture) return std::nullopt;
  return architecture->info();
}

nlohmann::json describe_architecture(const Registry& registry, const std::string& name,
                                     const Parameters& parameters) {
  return to_json(architecture_info(registry, name, parameters));
}

}  // namespace cerebra
