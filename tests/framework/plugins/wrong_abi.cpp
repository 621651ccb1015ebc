// Declares an ABI version from the future; the host must refuse it before
// reading anything else.
#include "cerebra/plugin_abi.h"

extern "C" __attribute__((visibility("default"))) const CerebraPluginDescriptor*
cerebra_plugin_descriptor() {
  static const CerebraPluginDescriptor descriptor{999u, CEREBRA_VERSION_STRING, "test_wrong_abi",
                                                  "0.0.1", "Built against another ABI", nullptr};
  return &descriptor;
}
