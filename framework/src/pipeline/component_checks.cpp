#include "component_checks.h"

#include <memory>
#include <optional>
#include <string>

#include <fmt/format.h>

#include "cerebra/architecture_info.h"
#include "cerebra/transform.h"

namespace cerebra::detail {

namespace {

// The component, or null after reporting why its constructor refused.
std::unique_ptr<Component> create(const Registry& registry, const ComponentConfig& config,
                                  const std::string& label, std::vector<Diagnostic>& diagnostics) {
  try {
    return registry.create(config.kind, config.name, config.parameters);
  } catch (const std::exception& error) {
    diagnostics.push_back({config.where, label + " (" + config.name + "): " + brief(error)});
    return nullptr;
  }
}

// The size of the images reaching the model, if the stages say, and the
// stage that last set it.
struct StageSizes {
  std::optional<cv::Size> size;
  const ComponentConfig* source = nullptr;
  std::string source_label;
};

void follow_stages(const std::vector<ComponentConfig>& stages, const char* section, bool random,
                   const Registry& registry, StageSizes& sizes, std::vector<Diagnostic>& diagnostics) {
  for (std::size_t i = 0; i < stages.size(); ++i) {
    const ComponentConfig& config = stages[i];
    const std::string label = fmt::format("[[{}]] #{}", section, i + 1);
    auto component = create(registry, config, label, diagnostics);
    const auto* transform = dynamic_cast<const Transform*>(component.get());
    if (!transform) {  // refused (reported), or a component that is not a transform
      sizes = {};
      continue;
    }
    if (transform->is_random() != random) {
      diagnostics.push_back({config.where, fmt::format("{} ({}): a {} stage in the wrong section; put it under {}",
                                                       label, config.name, random ? "deterministic" : "random",
                                                       random ? "[[preprocess]]" : "[[augment]]")});
    }
    std::optional<cv::Size> next = transform->output_size(sizes.size);
    if (next && (!sizes.size || *next != *sizes.size)) {
      sizes.source = &config;
      sizes.source_label = label;
    }
    sizes.size = next;
  }
}

}  // namespace

void check_components(const Pipeline& pipeline, const Registry& registry,
                      std::vector<Diagnostic>& diagnostics) {
  StageSizes sizes;
  follow_stages(pipeline.preprocess, "preprocess", false, registry, sizes, diagnostics);
  follow_stages(pipeline.augment, "augment", true, registry, sizes, diagnostics);
  if (pipeline.model.name.empty()) return;
  auto model = create(registry, pipeline.model, "[model]", diagnostics);
  std::optional<ArchitectureInfo> info = model ? info_of(*model) : std::nullopt;
  if (!info || !sizes.size || !sizes.source) return;
  const cv::Size size = *sizes.size;
  if (info->accepts(size.height, size.width)) return;
  std::string message = fmt::format(
      "{} ({}): gives {}x{} images, but [model] ({}, {}) takes {} inputs", sizes.source_label,
      sizes.source->name, size.width, size.height, pipeline.model.name, pipeline.model.where.to_string(),
      info->accepted_sizes());
  if (!info->input_note.empty()) message += " (" + info->input_note + ")";
  diagnostics.push_back({sizes.source->where, message});
}

}  // namespace cerebra::detail
