// Module paths as torch names them ("layer4.0.conv1.weight"). Internal to the
// framework library.
#pragma once

#include <string>

namespace cerebra::detail {

// True when `name` is `module` or lies inside it, matching whole path
// components: "features.2" contains "features.2.weight" but not "features.24".
inline bool in_module(const std::string& name, const std::string& module) {
  return name == module || (name.size() > module.size() && name.compare(0, module.size(), module) == 0 &&
                            name[module.size()] == '.');
}

}  // namespace cerebra::detail
