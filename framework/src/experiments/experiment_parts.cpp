#include "experiment_parts.h"

#include <algorithm>
#include <filesystem>
#include <ostream>
#include <regex>

#include "cerebra/error.h"
#include "cerebra/run_store.h"

namespace cerebra {

ConfigNode int_node(std::int64_t value) {
  ConfigNode node;
  node.kind = ConfigNode::Kind::Int;
  node.integer = value;
  return node;
}

ConfigNode string_node(const std::string& value) {
  ConfigNode node;
  node.kind = ConfigNode::Kind::String;
  node.string = value;
  return node;
}

void set_config_value(ConfigNode& root, const std::string& section, const std::string& key, ConfigNode value) {
  ConfigNode* table = root.find(section);
  if (!table) {
    root.set(section, ConfigNode{});
    table = root.find(section);
  }
  table->set(key, std::move(value));
}

bool run_finished(const RunDirectory& run) {
  if (!run.has_summary()) return false;
  try {
    const std::string status = run.read_summary().status;
    return status == "completed" || status == "early_stopped";
  } catch (const std::exception&) {
    return false;  // a summary that cannot be read is as good as none: the fold runs again
  }
}

std::string find_run_dir(const std::string& parent, const std::string& name) {
  std::vector<std::string> found;
  const std::regex pattern(name + "-[0-9]{8}-[0-9]{6}(-[0-9]+)?");
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(parent, error)) {
    if (entry.is_directory() && std::regex_match(entry.path().filename().string(), pattern)) {
      found.push_back(entry.path().string());
    }
  }
  std::sort(found.begin(), found.end());
  return found.empty() ? "" : found.back();
}

void tag_run(const std::string& run_dir, const std::vector<std::string>& tags, std::ostream& log) {
  try {
    RunStore store(store_path_for_run(run_dir));
    store.tag(run_dir, tags);
  } catch (const std::exception& error) {
    log << "warning: " << run_dir << " is not tagged in the run store (" << brief(error) << ")\n";
  }
}

}  // namespace cerebra
