// The plugins this build produced, loaded once per test binary as the host
// loads them (the environment's plugin path ignored).
#pragma once

#include "cerebra/host.h"

namespace cerebra::testing {

inline Host& built_plugins() {
  static Host instance([] {
    HostOptions options;
    options.plugin_paths = {CEREBRA_PLUGIN_DIR};
    options.use_environment = false;
    options.use_default_path = false;
    return options;
  }());
  return instance;
}

}  // namespace cerebra::testing
