#include "cerebra/plugin_loader.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <set>
#include <utility>

#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/dll/shared_library.hpp>
#include <boost/system/system_error.hpp>
#include <fmt/format.h>

#include "cerebra/plugin_abi.h"
#include "cerebra/version.h"

// Where the build tree puts libcerebra and the plugins. Only the library at
// that very place may search the build's plugin folder: an installed copy is
// the same binary, with these strings in it.
#ifndef CEREBRA_BUILD_LIBRARY_DIR
#define CEREBRA_BUILD_LIBRARY_DIR ""
#endif
#ifndef CEREBRA_BUILD_PLUGIN_DIR
#define CEREBRA_BUILD_PLUGIN_DIR ""
#endif

namespace cerebra {

namespace fs = std::filesystem;

const char* to_string(PluginStatus status) {
  switch (status) {
    case PluginStatus::Loaded: return "loaded";
    case PluginStatus::CannotOpen: return "cannot open";
    case PluginStatus::NotAPlugin: return "not a Cerebra plugin";
    case PluginStatus::AbiMismatch: return "ABI version mismatch";
    case PluginStatus::FrameworkMismatch: return "framework version mismatch";
    case PluginStatus::RegisterThrew: return "register threw";
    case PluginStatus::DuplicateComponent: return "duplicate component";
    case PluginStatus::FolderUnreadable: return "plugin folder cannot be read";
  }
  return "?";
}

namespace {
std::vector<std::string> split_path_list(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find(':', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

bool looks_like_library(const fs::path& path);

// The plugin libraries in `folder`, or why the folder cannot be listed.
std::string list_libraries(const std::string& folder, std::vector<fs::path>& files) {
  std::error_code error;
  if (!fs::exists(folder, error)) return "no such folder";
  if (!fs::is_directory(folder, error)) return "not a folder";
  fs::directory_iterator it(folder, error), end;
  for (; !error && it != end; it.increment(error)) {
    std::error_code entry_error;
    if (looks_like_library(it->path()) && !it->is_directory(entry_error)) files.push_back(it->path());
  }
  return error ? error.message() : std::string();
}

bool looks_like_library(const fs::path& path) {
  const std::string name = path.filename().string();
  return name.size() > 3 && name.compare(name.size() - 3, 3, ".so") == 0;
}

bool same_folder(const fs::path& a, const fs::path& b) {
  std::error_code error;
  return !a.empty() && !b.empty() && fs::equivalent(a, b, error) && !error;
}

// "major.minor[.patch...]" -> (major, minor); nullopt when it is not that.
std::optional<std::pair<long, long>> major_minor(const char* version) {
  if (!version) return std::nullopt;
  char* end = nullptr;
  const long major = std::strtol(version, &end, 10);
  if (end == version || *end != '.') return std::nullopt;
  const char* minor_text = end + 1;
  const long minor = std::strtol(minor_text, &end, 10);
  if (end == minor_text || (*end != '\0' && *end != '.')) return std::nullopt;
  return std::make_pair(major, minor);
}

// Patch releases keep the C++ types that cross the plugin boundary; a new
// minor (or major) version may change them.
bool framework_compatible(const char* plugin_version) {
  const auto plugin = major_minor(plugin_version);
  return plugin && *plugin == std::make_pair(long{CEREBRA_VERSION_MAJOR}, long{CEREBRA_VERSION_MINOR});
}

// Why the host cannot use a plugin's descriptor, or nothing. Checks the ABI
// version before reading any other field; once it matches, the layout is
// this host's, so the record takes the plugin's names even if it is refused.
std::optional<std::pair<PluginStatus, std::string>> descriptor_problem(const CerebraPluginDescriptor* descriptor,
                                                                       PluginRecord& record) {
  if (!descriptor) {
    return std::make_pair(PluginStatus::NotAPlugin,
                          std::string(CEREBRA_PLUGIN_ENTRY_POINT) + "() returned no descriptor");
  }
  if (descriptor->abi_version != CEREBRA_PLUGIN_ABI_VERSION) {
    return std::make_pair(PluginStatus::AbiMismatch,
                          fmt::format("expected ABI version {}, found {}; rebuild the plugin against "
                                      "this version of Cerebra",
                                      CEREBRA_PLUGIN_ABI_VERSION, descriptor->abi_version));
  }
  record.name = descriptor->name ? descriptor->name : "";
  record.version = descriptor->version ? descriptor->version : "";
  record.description = descriptor->description ? descriptor->description : "";
  record.framework_version = descriptor->framework_version ? descriptor->framework_version : "";
  if (!framework_compatible(descriptor->framework_version)) {
    return std::make_pair(PluginStatus::FrameworkMismatch,
                          fmt::format("built against Cerebra {}, but this is Cerebra {} (a plugin must "
                                      "come from the same major.minor series); rebuild the plugin "
                                      "against this version of Cerebra",
                                      record.framework_version.empty() ? "(no version)" : record.framework_version,
                                      CEREBRA_VERSION_STRING));
  }
  if (!descriptor->register_components) {
    return std::make_pair(PluginStatus::NotAPlugin, std::string("the descriptor has no register callback"));
  }
  return std::nullopt;
}

}  // namespace

std::string PluginLoader::default_plugin_folder() {
  boost::system::error_code error;
  const fs::path library = fs::absolute(boost::dll::this_line_location(error).string());
  if (error || library.empty()) return {};
  const fs::path folder = library.parent_path();
  if (same_folder(folder, CEREBRA_BUILD_LIBRARY_DIR)) return CEREBRA_BUILD_PLUGIN_DIR;
  return (folder / "cerebra" / "plugins").string();
}

std::vector<std::string> PluginLoader::search_path(const PluginSearchOptions& options) {
  std::vector<std::string> folders = options.extra_paths;
  if (options.use_environment) {
    if (const char* env = std::getenv("CEREBRA_PLUGIN_PATH")) {
      for (auto& folder : split_path_list(env)) folders.push_back(folder);
    }
  }
  if (options.use_default_path) {
    // The plugins that belong to the libcerebra this process uses, wherever
    // the program itself lives: a program built out of tree against an
    // installed Cerebra finds the installed plugins, never the build tree's.
    const std::string folder = default_plugin_folder();
    if (!folder.empty()) folders.push_back(folder);
  }
  return folders;
}

void PluginLoader::load_all(const PluginSearchOptions& options) {
  std::set<fs::path> seen;
  for (const auto& record : records_) seen.insert(record.file);
  for (const auto& folder : search_path(options)) {
    std::vector<fs::path> files;
    const std::string problem = list_libraries(folder, files);
    if (!problem.empty()) {
      // Said, not skipped silently: a mistyped --plugin-path would otherwise
      // look like a plugin that registers nothing.
      PluginRecord record;
      record.file = fs::absolute(folder).string();
      record.status = PluginStatus::FolderUnreadable;
      record.message = record.file + ": " + to_string(record.status) + ": " + problem;
      records_.push_back(std::move(record));
      continue;
    }
    std::sort(files.begin(), files.end());  // deterministic registration order
    for (const auto& file : files) {
      std::error_code error;
      fs::path canonical = fs::weakly_canonical(file, error);
      if (error) canonical = fs::absolute(file);
      if (!seen.insert(canonical).second) continue;
      load(canonical.string());
    }
  }
}

const PluginRecord& PluginLoader::load(const std::string& file) {
  PluginRecord record;
  record.file = fs::absolute(file).string();
  auto fail = [&](PluginStatus status, const std::string& detail) -> const PluginRecord& {
    record.status = status;
    record.message = record.file + ": " + to_string(status) + ": " + detail;
    records_.push_back(std::move(record));
    return records_.back();
  };

  // Never unloaded: see the header.
  auto* library = new boost::dll::shared_library();
  try {
    library->load(record.file, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  } catch (const boost::system::system_error& error) {
    delete library;
    // Boost appends its error code's text to dlerror()'s, which already says
    // why ("...: Bad file descriptor" after "invalid ELF header" misleads).
    std::string text = error.what();
    const std::string suffix = ": " + error.code().message();
    if (text.size() > suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0) {
      text.erase(text.size() - suffix.size());
    }
    return fail(PluginStatus::CannotOpen, text);
  } catch (const std::exception& error) {
    delete library;
    return fail(PluginStatus::CannotOpen, error.what());
  }
  if (!library->has(CEREBRA_PLUGIN_ENTRY_POINT)) {
    return fail(PluginStatus::NotAPlugin,
                std::string("the library exports no ") + CEREBRA_PLUGIN_ENTRY_POINT + "()");
  }
  auto entry = library->get<const CerebraPluginDescriptor*()>(CEREBRA_PLUGIN_ENTRY_POINT);
  const CerebraPluginDescriptor* descriptor = entry();
  if (auto problem = descriptor_problem(descriptor, record)) return fail(problem->first, problem->second);

  registry_.begin_plugin(record.name, record.file);
  try {
    descriptor->register_components(registry_);
  } catch (const DuplicateComponentError& error) {
    registry_.rollback_plugin();
    return fail(PluginStatus::DuplicateComponent, error.what());
  } catch (const std::exception& error) {
    registry_.rollback_plugin();
    return fail(PluginStatus::RegisterThrew, error.what());
  } catch (...) {
    registry_.rollback_plugin();
    return fail(PluginStatus::RegisterThrew, "an exception that is not a std::exception");
  }
  for (const auto* info : registry_.list()) {
    if (info->plugin_file == record.file) record.components.push_back(info->kind + "/" + info->name);
  }
  registry_.commit_plugin();
  records_.push_back(std::move(record));
  return records_.back();
}

std::vector<const PluginRecord*> PluginLoader::failures() const {
  std::vector<const PluginRecord*> out;
  for (const auto& record : records_) {
    if (record.status != PluginStatus::Loaded) out.push_back(&record);
  }
  return out;
}

}  // namespace cerebra
