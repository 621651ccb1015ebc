// A pipeline: what a TOML description resolves to once it has been validated
// against the framework's own sections and the registered components' schemas.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "cerebra/config.h"
#include "cerebra/parameters.h"
#include "cerebra/registry.h"

namespace cerebra {

struct ComponentConfig {
  std::string kind;
  std::string name;
  Parameters parameters;
  SourceLocation where;
};

// One section of a pipeline file.
struct SectionSpec {
  std::string name;
  std::string doc;
  enum class Shape { Settings, Component, ComponentList } shape = Shape::Settings;
  std::string component_kind;  // Component / ComponentList
  bool required = false;
  std::string default_type;    // Component: the one used when the section is absent
  Schema schema;  // Settings
  // Settings: keys that used to live here, each with where it lives now.
  std::map<std::string, std::string> moved_keys;
};

// The sections a pipeline may have, in the order they are written out.
const std::vector<SectionSpec>& pipeline_sections();
const SectionSpec* find_section(const std::string& name);

struct Pipeline {
  std::string source_file;
  std::map<std::string, Parameters> settings;  // one per Settings section
  ComponentConfig dataset;
  ComponentConfig model;
  std::vector<ComponentConfig> preprocess;
  std::vector<ComponentConfig> augment;
  ComponentConfig loss;
  ComponentConfig optimizer;
  ComponentConfig schedule;
  ComponentConfig objective;
  std::vector<ComponentConfig> callbacks;
  // [evaluation] metrics in order, each with its [evaluation.NAME] parameters.
  std::vector<ComponentConfig> metrics;

  // The field behind a Component / ComponentList section, by section name.
  ComponentConfig& component(const std::string& section);
  const ComponentConfig& component(const std::string& section) const;
  std::vector<ComponentConfig>& component_list(const std::string& section);
  const std::vector<ComponentConfig>& component_list(const std::string& section) const;

  const Parameters& section(const std::string& name) const;
  // Every default filled in; reads back to the same pipeline.
  std::string to_toml() const;
  nlohmann::json to_json() const;
};

// Validates everything at once and throws ConfigError listing every problem.
Pipeline resolve_pipeline(const ConfigNode& root, const Registry& registry);

// load_config_file + apply_overrides + resolve_pipeline.
Pipeline load_pipeline(const std::string& path, const std::vector<std::string>& overrides,
                       const Registry& registry);

// Validates `node` (a table) against `schema` and returns the resolved values;
// problems are appended to `diagnostics`. Exposed for components with nested
// settings and for tests.
Parameters resolve_parameters(const ConfigNode& table, const Schema& schema,
                              const Registry* registry, const std::vector<std::string>& reserved_keys,
                              std::vector<Diagnostic>& diagnostics);

}  // namespace cerebra
