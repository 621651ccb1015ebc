// What an architecture declares about itself, as `inspect` and `list` show it.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "cerebra/registry.h"

namespace cerebra::cli {

// describe_architecture() with the schema's defaults, or {"error": why} when
// the component cannot be created from them.
nlohmann::json architecture_json(const Registry& registry, const ComponentInfo& info);

// The same, as text: input sizes, normalisation, layer groups, Grad-CAM layer.
std::string architecture_text(const nlohmann::json& architecture);

}  // namespace cerebra::cli
