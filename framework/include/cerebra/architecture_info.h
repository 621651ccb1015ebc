// What an architecture declares about itself, without torch: input sizes,
// normalisation, layer groups and the Grad-CAM layer. Pipeline validation and
// `cerebra inspect` read it; architecture.h adds the network itself.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "cerebra/parameters.h"
#include "cerebra/registry.h"

namespace cerebra {

struct LayerGroup {
  std::string name;                       // "layer4", "head", ...
  std::vector<std::string> module_prefixes;  // parameter-name prefixes in the group
};

struct ArchitectureInfo {
  std::int64_t input_size = 224;  // default square input
  // Which inputs the network takes: exactly input_size x input_size when
  // `fixed_input` (a flatten sized for one input), otherwise any height and
  // width of at least `min_input_size` (adaptive pooling before the head).
  bool fixed_input = false;
  std::int64_t min_input_size = 1;
  std::string input_note;  // why, when a parameter decides it: shown in errors
  std::vector<double> mean{0.485, 0.456, 0.406};  // default normalisation
  std::vector<double> std{0.229, 0.224, 0.225};
  std::vector<LayerGroup> layer_groups;  // input to output; the head is last
  std::string gradcam_layer;             // module whose activations Grad-CAM uses

  bool accepts(std::int64_t height, std::int64_t width) const;
  // "exactly 64x64", "at least 75x75" or "any size".
  std::string accepted_sizes() const;
  // The last layer group, or null when none is declared.
  const LayerGroup* head_group() const;
};

nlohmann::json to_json(const ArchitectureInfo& info);

// Creates architecture `name` with `parameters` (defaults filled in) and asks
// for its info(); no network is built. Throws UnknownComponentError, or Error
// when the component is not an architecture or its constructor refuses the
// parameters.
ArchitectureInfo architecture_info(const Registry& registry, const std::string& name,
                                   const Parameters& parameters);

// The info() of `component` when it is an architecture, else empty (a
// component registered under the architecture kind without implementing it).
std::optional<ArchitectureInfo> info_of(const Component& component);

// architecture_info() as JSON, for `cerebra inspect` and tools.
nlohmann::json describe_architecture(const Registry& registry, const std::string& name,
                                     const Parameters& parameters);

}  // namespace cerebra
