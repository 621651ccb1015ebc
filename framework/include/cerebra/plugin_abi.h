// The one contract between the host and a plugin library.
//
// A plugin exports exactly one C symbol, `cerebra_plugin_descriptor`, that
// returns a pointer to a static descriptor. The host reads `abi_version` before
// touching any other field, so a descriptor layout change bumps the version and
// old plugins are refused with a clear message instead of crashing.
//
// The ABI version covers the descriptor only. C++ types cross the boundary
// too (Registry, Parameters, Architecture, torch tensors), so the descriptor
// also carries the framework version the plugin was compiled against, and the
// host accepts a plugin only from its own major.minor series (patch releases
// keep those types unchanged).
#pragma once

#include <cstdint>

#include "cerebra/version.h"

namespace cerebra {
class Registry;
}

#define CEREBRA_PLUGIN_ABI_VERSION 3u
#define CEREBRA_PLUGIN_ENTRY_POINT "cerebra_plugin_descriptor"

extern "C" {

struct CerebraPluginDescriptor {
  std::uint32_t abi_version;  // must stay the first field
  const char* framework_version;  // CEREBRA_VERSION_STRING when the plugin was compiled
  const char* name;
  const char* version;
  const char* description;
  // Adds the plugin's components. May throw; the host then registers nothing
  // from this plugin and reports the exception text.
  void (*register_components)(cerebra::Registry& registry);
};

typedef const CerebraPluginDescriptor* (*CerebraPluginEntryPoint)();
}

// Declares the plugin's entry point. Use once per plugin library:
//   CEREBRA_PLUGIN("resize", "1.0.0", "Resizes images", register_resize)
#define CEREBRA_PLUGIN(NAME, VERSION, DESCRIPTION, REGISTER_FUNCTION)                      \
  extern "C" __attribute__((visibility("default"))) const CerebraPluginDescriptor*         \
  cerebra_plugin_descriptor() {                                                            \
    static const CerebraPluginDescriptor descriptor{CEREBRA_PLUGIN_ABI_VERSION,            \
                                                    CEREBRA_VERSION_STRING, NAME, VERSION, \
                                                    DESCRIPTION, REGISTER_FUNCTION};       \
    return &descriptor;                                                                    \
  }
