// Finds and loads plugin libraries. Libraries are never unloaded: objects,
// std::functions and exception types created by a plugin may live as long as
// the process, so the code behind them must too.
#pragma once

#include <string>
#include <vector>

#include "cerebra/registry.h"

namespace cerebra {

enum class PluginStatus {
  Loaded,
  CannotOpen,        // dlopen failed; message has the system's reason
  NotAPlugin,        // no cerebra_plugin_descriptor symbol
  AbiMismatch,       // expected vs found ABI version
  FrameworkMismatch, // built against a framework version this one cannot host; both named
  RegisterThrew,     // the exception text
  DuplicateComponent, // both files named
  FolderUnreadable    // a search folder that is missing or cannot be listed; `file` is the folder
};

const char* to_string(PluginStatus status);

struct PluginRecord {
  std::string file;  // absolute path
  PluginStatus status = PluginStatus::Loaded;
  std::string message;  // one line naming the file and the problem, when not loaded
  std::string name, version, description;
  std::string framework_version;  // the framework version the plugin was compiled against
  std::vector<std::string> components;  // "kind/name" registered by this plugin
};

struct PluginSearchOptions {
  std::vector<std::string> extra_paths;  // --plugin-path, searched first
  bool use_environment = true;            // CEREBRA_PLUGIN_PATH
  bool use_default_path = true;           // the plugin folder that belongs to this libcerebra
};

class PluginLoader {
 public:
  explicit PluginLoader(Registry& registry) : registry_(registry) {}

  // Folders searched, in order, from the options.
  static std::vector<std::string> search_path(const PluginSearchOptions& options);
  // The default folder: <libdir>/cerebra/plugins beside an installed
  // libcerebra, the build's plugin folder for the library in the build tree.
  // Empty when this library's own location cannot be found.
  static std::string default_plugin_folder();

  // Loads every plugin library (*.so) found in the search path. Failures are
  // recorded, not thrown.
  void load_all(const PluginSearchOptions& options);
  // Loads one file; the record says how it went.
  const PluginRecord& load(const std::string& file);

  const std::vector<PluginRecord>& records() const { return records_; }
  std::vector<const PluginRecord*> failures() const;

 private:
  Registry& registry_;
  std::vector<PluginRecord> records_;
};

}  // namespace cerebra
