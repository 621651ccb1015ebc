// Module paths as torch names them ("layer4.0.conv1.weight"). Internal to the
// framework library.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

namespace cerebra::detail {

// True when `name` is `module` or lies inside it, matching whole path
// components: "features.2" contains "features.2.weight" but not "features.24".
inline bool in_module(const std::string& name, const std::string& module) {
  return name == module || (name.size() > module.size() && name.compare(0, module.size(), module) == 0 &&
                            name[module.size()] == '.');
}

// True when `name` lies in one of `modules` (a layer group's prefixes).
inline bool in_any_module(const std::string& name, const std::vector<std::string>& modules) {
  return std::any_of(modules.begin(), modules.end(), [&](const std::string& module) { return in_module(name, module); });
}

}  // namespace cerebra::detail
