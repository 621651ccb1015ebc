#include "cerebra/plugin_loader.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <set>

#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/dll/shared_library.hpp>
#include <fmt/format.h>

#include "cerebra/plugin_abi.h"

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
    case PluginStatus::RegisterThrew: return "register threw";
    case PluginStatus::DuplicateComponent: return "duplicate component";
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

bool looks_like_library(const fs::path& path) {
  const std::string name = path.filename().string();
  return name.size() > 3 && name.compare(name.size() - 3, 3, ".so") == 0;
}
}  // namespace

std::vector<std::string> PluginLoader::search_path(const PluginSearchOptions& options) {
  std::vector<std::string> folders = options.extra_paths;
  if (options.use_environment) {
    if (const char* env = std::getenv("CEREBRA_PLUGIN_PATH")) {
      for (auto& folder : split_path_list(env)) folders.push_back(folder);
    }
  }
  if (options.use_default_path) {
    // An installed host finds its plugins beside itself; a host in the build
    // tree finds them in the build's plugin folder. An installed copy never
    // looks into the build tree it was built from.
    boost::system::error_code error;
    fs::path program = boost::dll::program_location(error).string();
    fs::path installed = error ? fs::path() : program.parent_path().parent_path() / "lib" / "cerebra" / "plugins";
    std::string build_dir = CEREBRA_BUILD_PLUGIN_DIR;
    if (!installed.empty() && fs::is_directory(installed)) {
      folders.push_back(installed.string());
    } else if (!build_dir.empty()) {
      folders.push_back(build_dir);
    }
  }
  return folders;
}

void PluginLoader::load_all(const PluginSearchOptions& options) {
  std::set<fs::path> seen;
  for (const auto& record : records_) seen.insert(record.file);
  for (const auto& folder : search_path(options)) {
    std::error_code error;
    if (!fs::is_directory(folder, error)) continue;
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(folder, error)) {
      if (looks_like_library(entry.path()) && !entry.is_directory()) files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());  // deterministic registration order
    for (const auto& file : files) {
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
  if (!descriptor) {
    return fail(PluginStatus::NotAPlugin,
                std::string(CEREBRA_PLUGIN_ENTRY_POINT) + "() returned no descriptor");
  }
  if (descriptor->abi_version != CEREBRA_PLUGIN_ABI_VERSION) {
    return fail(PluginStatus::AbiMismatch,
                fmt::format("expected ABI version {}, found {}; rebuild the plugin against "
                            "this version of Cerebra",
                            CEREBRA_PLUGIN_ABI_VERSION, descriptor->abi_version));
  }
  record.name = descriptor->name ? descriptor->name : "";
  record.version = descriptor->version ? descriptor->version : "";
  record.description = descriptor->description ? descriptor->description : "";
  if (!descriptor->register_components) {
    return fail(PluginStatus::NotAPlugin, "the descriptor has no register callback");
  }

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
