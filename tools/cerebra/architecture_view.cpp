#include "architecture_view.h"

#include <fmt/format.h>

#include "cerebra/architecture_info.h"
#include "table.h"

namespace cerebra::cli {

nlohmann::json architecture_json(const Registry& registry, const ComponentInfo& info) {
  try {
    return describe_architecture(registry, info.name, Parameters::defaults(info.schema));
  } catch (const std::exception& error) {
    return {{"error", brief(error)}};
  }
}

namespace {
std::string numbers(const nlohmann::json& list) {
  std::vector<std::string> parts;
  for (const auto& value : list) parts.push_back(fmt::format("{:g}", value.get<double>()));
  return join(parts);
}
}  // namespace

std::string architecture_text(const nlohmann::json& architecture) {
  if (architecture.contains("error")) {
    return "architecture: cannot describe it from its defaults: " + architecture["error"].get<std::string>() + "\n";
  }
  const auto& accepted = architecture["accepted_input"];
  const std::string note = accepted["note"].get<std::string>();
  std::string out = fmt::format("input size: {0}x{0} by default; takes {1}{2}\n", architecture["input_size"].get<std::int64_t>(),
                                accepted["description"].get<std::string>(), note.empty() ? "" : " (" + note + ")");
  out += "normalisation: mean " + numbers(architecture["mean"]) + "; std " + numbers(architecture["std"]) + "\n";
  out += "Grad-CAM layer: " + architecture["gradcam_layer"].get<std::string>() + "\n";
  const auto& head = architecture["head_group"];
  out += "head group: " + (head.is_string() ? head.get<std::string>() : std::string("(none)")) + "\n";
  out += "layer groups, input to output (fine_tune trains the last trainable_groups):\n";
  Table table({"group", "module prefixes"});
  for (const auto& group : architecture["layer_groups"]) {
    table.add({group["name"].get<std::string>(), join(group["module_prefixes"].get<std::vector<std::string>>())});
  }
  return out + table.render();
}

}  // namespace cerebra::cli
