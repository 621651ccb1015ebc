// Creates a Host with the default search path plus the folder given on the
// command line, and prints what it loaded: one "loaded <file>" or
// "failed <message>" line per plugin file, then the default folder.
// Exits 1 when any plugin failed.
#include <iostream>

#include <cerebra/host.h>

int main(int argc, char** argv) {
  cerebra::HostOptions options;
  for (int i = 1; i < argc; ++i) options.plugin_paths.push_back(argv[i]);
  options.use_environment = false;
  cerebra::Host host(options);
  for (const auto& record : host.loader().records()) {
    if (record.status == cerebra::PluginStatus::Loaded) std::cout << "loaded " << record.file << "\n";
    else std::cout << "failed " << record.message << "\n";
  }
  std::cout << "default folder " << cerebra::PluginLoader::default_plugin_folder() << "\n";
  return host.failures().empty() ? 0 : 1;
}
