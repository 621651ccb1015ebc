#include "cerebra/architecture_info.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace cerebra {

bool ArchitectureInfo::accepts(std::int64_t height, std::int64_t width) const {
  if (fixed_input) return height == input_size && width == input_size;
  return height >= min_input_size && width >= min_input_size;
}

std::string ArchitectureInfo::accepted_sizes() const {
  if (fixed_input) return fmt::format("exactly {}x{}", input_size, input_size);
  if (min_input_size <= 1) return "any size";
  return fmt::format("at least {}x{}", min_input_size, min_input_size);
}

const LayerGroup* ArchitectureInfo::head_group() const {
  return layer_groups.empty() ? nullptr : &layer_groups.back();
}

nlohmann::json to_json(const ArchitectureInfo& info) {
  nlohmann::json groups = nlohmann::json::array();
  for (const auto& group : info.layer_groups) {
    groups.push_back({{"name", group.name}, {"module_prefixes", group.module_prefixes}});
  }
  const LayerGroup* head = info.head_group();
  return {{"input_size", info.input_size},
          {"accepted_input", {{"fixed", info.fixed_input},
                              {"min_size", info.fixed_input ? info.input_size : info.min_input_size},
                              {"description", info.accepted_sizes()},
                              {"note", info.input_note}}},
          {"mean", info.mean},
          {"std", info.std},
          {"layer_groups", groups},
          {"head_group", head ? nlohmann::json(head->name) : nlohmann::json(nullptr)},
          {"gradcam_layer", info.gradcam_layer}};
}

}  // namespace cerebra
