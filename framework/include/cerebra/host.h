// The host: a registry filled from the plugins found on the search path.
#pragma once

#include <string>
#include <vector>

#include "cerebra/plugin_loader.h"
#include "cerebra/registry.h"

namespace cerebra {

const char* version();

struct HostOptions {
  std::vector<std::string> plugin_paths;  // searched before CEREBRA_PLUGIN_PATH and the default
  bool use_environment = true;
  bool use_default_path = true;
};

class Host {
 public:
  explicit Host(const HostOptions& options);

  Registry& registry() { return registry_; }
  const Registry& registry() const { return registry_; }
  const PluginLoader& loader() const { return loader_; }
  std::vector<const PluginRecord*> failures() const { return loader_.failures(); }

 private:
  Registry registry_;
  PluginLoader loader_;
};

}  // namespace cerebra
