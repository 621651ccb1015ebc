#include "cerebra/host.h"

#include "callbacks/builtin_callbacks.h"
#include "cerebra/version.h"
#include "data/pool_dataset.h"

namespace cerebra {

const char* version() { return CEREBRA_VERSION_STRING; }

Host::Host(const HostOptions& options) : loader_(registry_) {
  // Built-in components first, so a plugin reusing one of their names is
  // reported as a duplicate like any other.
  register_builtin_callbacks(registry_);
  register_builtin_datasets(registry_);
  PluginSearchOptions search;
  search.extra_paths = options.plugin_paths;
  search.use_environment = options.use_environment;
  search.use_default_path = options.use_default_path;
  loader_.load_all(search);
}

}  // namespace cerebra
