#include "commands.h"

#include <iostream>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cerebra/host.h"
#include "cerebra/pipeline.h"
#include "cerebra/run.h"
#include "table.h"

namespace cerebra::cli {

namespace {

std::string base_name(const std::string& path) {
  auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Loads plugins and reports failures: warnings normally, fatal with --strict.
// Returns null (after printing) when the command must stop.
std::unique_ptr<Host> open_host(const CommonOptions& common, bool quiet_failures, int& exit_code) {
  HostOptions options;
  options.plugin_paths = common.plugin_paths;
  auto host = std::make_unique<Host>(options);
  auto failures = host->failures();
  if (!failures.empty() && (common.strict || !quiet_failures)) {
    for (const auto* failure : failures) {
      std::cerr << (common.strict ? "error: " : "warning: ") << failure->message
                << (common.strict ? "\n" : " (plugin skipped)\n");
    }
  }
  if (!failures.empty() && common.strict) {
    exit_code = kPluginFailure;
    return nullptr;
  }
  exit_code = kOk;
  return host;
}

nlohmann::json component_json(const ComponentInfo& info) {
  return {{"kind", info.kind},           {"name", info.name},
          {"summary", info.summary},     {"plugin", info.plugin_name},
          {"plugin_file", info.plugin_file}, {"parameters", info.schema.to_json()}};
}

void print_schema(const Schema& schema) {
  Table table({"parameter", "type", "default", "allowed", "description"});
  for (const auto& spec : schema.parameters()) {
    table.add({spec.name, to_string(spec.type),
               spec.default_value ? format_value(*spec.default_value) : "(required)",
               spec.describe_constraint(), spec.doc});
  }
  std::cout << table.render();
}

}  // namespace

int command_list(const CommonOptions& common, const std::string& kind) {
  int exit_code = kOk;
  const bool plugins = kind == "plugins";
  auto host = open_host(common, plugins, exit_code);
  if (!host) return exit_code;

  if (plugins) {
    const auto& records = host->loader().records();
    if (common.json) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& record : records) {
        out.push_back({{"file", record.file},
                       {"status", to_string(record.status)},
                       {"loaded", record.status == PluginStatus::Loaded},
                       {"message", record.message},
                       {"name", record.name},
                       {"version", record.version},
                       {"description", record.description},
                       {"components", record.components}});
      }
      std::cout << out.dump(2) << "\n";
      return kOk;
    }
    Table table({"status", "plugin", "version", "file", "components or reason"});
    for (const auto& record : records) {
      bool loaded = record.status == PluginStatus::Loaded;
      table.add({to_string(record.status), record.name, record.version, record.file,
                 loaded ? join(record.components) : record.message});
    }
    std::cout << table.render();
    if (records.empty()) {
      std::cout << "(no plugin files found; searched: "
                << join(PluginLoader::search_path({common.plugin_paths, true, true})) << ")\n";
    }
    return kOk;
  }

  const auto kinds = host->registry().kinds();
  if (!kind.empty() && std::find(kinds.begin(), kinds.end(), kind) == kinds.end()) {
    std::string message = "cerebra list: unknown kind '" + kind + "'";
    std::string closest = closest_match(kind, kinds);
    if (!closest.empty()) message += " (did you mean '" + closest + "'?)";
    std::cerr << message << "; kinds: " << join(kinds) << ", or plugins\n";
    return kBadUsage;
  }
  auto components = host->registry().list(kind);
  if (common.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto* info : components) out.push_back(component_json(*info));
    std::cout << out.dump(2) << "\n";
    return kOk;
  }
  Table table({"kind", "name", "plugin file", "summary"});
  for (const auto* info : components) {
    table.add({info->kind, info->name, base_name(info->plugin_file), info->summary});
  }
  std::cout << table.render();
  return kOk;
}

int command_inspect(const CommonOptions& common, const std::string& name) {
  int exit_code = kOk;
  auto host = open_host(common, false, exit_code);
  if (!host) return exit_code;
  const Registry& registry = host->registry();

  std::vector<const ComponentInfo*> matches;
  auto slash = name.find('/');
  if (slash != std::string::npos) {
    if (const auto* info = registry.try_find(name.substr(0, slash), name.substr(slash + 1))) {
      matches.push_back(info);
    }
  } else {
    matches = registry.find_by_name(name);
  }

  const SectionSpec* section = find_section(name);
  if (matches.empty() && section && section->shape == SectionSpec::Shape::Settings) {
    if (common.json) {
      std::cout << nlohmann::json{{"section", section->name},
                                  {"doc", section->doc},
                                  {"parameters", section->schema.to_json()}}
                       .dump(2)
                << "\n";
    } else {
      std::cout << "[" << section->name << "] — pipeline section: " << section->doc << "\n\n";
      print_schema(section->schema);
    }
    return kOk;
  }
  if (matches.empty()) {
    std::vector<std::string> names;
    for (const auto* info : registry.list()) names.push_back(info->name);
    for (const auto& s : pipeline_sections()) {
      if (s.shape == SectionSpec::Shape::Settings) names.push_back(s.name);
    }
    std::string message = "cerebra inspect: no component or section named '" + name + "'";
    std::string closest = closest_match(name, names);
    if (!closest.empty()) message += " (did you mean '" + closest + "'?)";
    std::cerr << message << "; `cerebra list` shows every component\n";
    return kBadUsage;
  }

  if (common.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto* info : matches) out.push_back(component_json(*info));
    std::cout << (out.size() == 1 ? out[0] : out).dump(2) << "\n";
    return kOk;
  }
  bool first = true;
  for (const auto* info : matches) {
    if (!first) std::cout << "\n";
    first = false;
    std::cout << info->kind << " " << info->name << " — " << info->summary << "\n"
              << "plugin: " << info->plugin_name << " (" << info->plugin_file << ")\n\n";
    if (info->schema.parameters().empty()) {
      std::cout << "(no parameters)\n";
    } else {
      print_schema(info->schema);
    }
  }
  return kOk;
}

int command_validate(const CommonOptions& common, const std::string& pipeline_file,
                     const std::vector<std::string>& overrides) {
  int exit_code = kOk;
  auto host = open_host(common, false, exit_code);
  if (!host) return exit_code;
  try {
    Pipeline pipeline = load_pipeline(pipeline_file, overrides, host->registry());
    std::cout << pipeline_file << ": valid (dataset " << pipeline.dataset.name << ", model "
              << pipeline.model.name << ", " << pipeline.preprocess.size() << " preprocessing and "
              << pipeline.augment.size() << " augmentation stages)\n";
    return kOk;
  } catch (const ConfigError& error) {
    for (const auto& diagnostic : error.diagnostics()) {
      std::cerr << diagnostic.to_string() << "\n";
    }
    std::cerr << fmt::format("{}: {} problem{}\n", pipeline_file, error.diagnostics().size(),
                             error.diagnostics().size() == 1 ? "" : "s");
    return kBadUsage;
  }
}

int command_run(const CommonOptions& common, const std::string& pipeline_file,
                const std::vector<std::string>& overrides, const std::string& resume_dir) {
  int exit_code = kOk;
  auto host = open_host(common, false, exit_code);
  if (!host) return exit_code;
  RunOptions options;
  options.resume_dir = resume_dir;
  RunResult result;
  try {
    if (!resume_dir.empty()) {
      result = resume_run(resume_dir, host->registry(), options);
    } else {
      Pipeline pipeline = load_pipeline(pipeline_file, overrides, host->registry());
      result = run_pipeline(pipeline, host->registry(), options);
    }
  } catch (const ConfigError& error) {
    for (const auto& diagnostic : error.diagnostics()) std::cerr << diagnostic.to_string() << "\n";
    return kBadUsage;
  } catch (const std::exception& error) {
    std::cerr << "cerebra run: error: " << brief(error) << "\n";
    return kRunFailed;
  }
  if (result.status == "failed") return kRunFailed;
  if (result.status == "interrupted") return 130;
  return kOk;
}

}  // namespace cerebra::cli
