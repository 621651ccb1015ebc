// Declares the current ABI but another framework version: the descriptor
// reads fine, yet the C++ types the plugin was compiled against may differ,
// so the host must refuse it before calling anything in it.
#include <stdexcept>

#include "cerebra/plugin_abi.h"

namespace {

void register_components(cerebra::Registry&) {
  throw std::runtime_error("a plugin from another framework version must not be registered");
}

}  // namespace

extern "C" __attribute__((visibility("default"))) const CerebraPluginDescriptor*
cerebra_plugin_descriptor() {
  static const CerebraPluginDescriptor descriptor{CEREBRA_PLUGIN_ABI_VERSION, "99.0.0",
                                                  "test_wrong_framework", "0.0.1",
                                                  "Built against another framework",
                                                  register_components};
  return &descriptor;
}
