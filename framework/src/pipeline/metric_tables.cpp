#include "metric_tables.h"

#include <algorithm>

namespace cerebra::detail {

namespace {

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

std::string table_label(const std::string& metric) { return "[evaluation." + metric + "]"; }

// A table must parametrise a metric that the list reports: one that is not
// listed would be silently ignored.
void report_unlisted_tables(const ConfigNode& evaluation, const std::vector<std::string>& listed,
                            const Registry& registry, std::vector<Diagnostic>& diagnostics) {
  for (const auto& [key, value] : evaluation.entries) {
    if (!value.is_table() || contains(listed, key)) continue;
    std::string message = table_label(key) + ": ";
    if (registry.try_find(kinds::metric, key)) {
      message += "metric '" + key + "' is not in metrics (" + join(listed) + "); add it there to report it";
    } else {
      auto available = registry.names(kinds::metric);
      message += "unknown metric '" + key + "'" + did_you_mean(key, available) + "; available: " + join(available);
    }
    diagnostics.push_back({value.key_where, message});
  }
}

// The metric's schema plus the framework's per-metric keys, which default to
// [evaluation]'s values.
Schema table_schema(const Schema& metric_schema, const Parameters& evaluation) {
  Schema schema = metric_schema;
  const Schema& evaluation_schema = find_section("evaluation")->schema;
  for (const char* key : {kMetricBootstrap, kMetricBootstrapSeed}) {
    ParameterSpec spec = *evaluation_schema.find(key);
    spec.default_value = evaluation.get(key);
    schema.add_required(key, spec.type, spec.doc) = spec;
  }
  return schema;
}

ComponentConfig resolve_metric(const ComponentInfo& info, const ConfigNode* table, const SourceLocation& listed_at,
                               const Parameters& evaluation, const Registry& registry,
                               std::vector<Diagnostic>& diagnostics) {
  ComponentConfig config{kinds::metric, info.name, Parameters::defaults(info.schema), listed_at};
  if (!table) return config;
  config.where = table->where;
  std::vector<Diagnostic> own;
  Parameters resolved = resolve_parameters(*table, table_schema(info.schema, evaluation), &registry, {}, own);
  for (auto& diagnostic : own) {
    diagnostic.message = table_label(info.name) + ": " + diagnostic.message;
    diagnostics.push_back(std::move(diagnostic));
  }
  // The framework's keys only where written, so [evaluation]'s still apply
  // to the metrics that do not set their own.
  for (const auto& [key, value] : resolved.values()) {
    if (info.schema.find(key) || table->find(key)) config.parameters.set(key, value);
  }
  return config;
}

}  // namespace

std::vector<std::string> metric_table_keys(const ConfigNode* evaluation) {
  std::vector<std::string> keys;
  if (!evaluation || !evaluation->is_table()) return keys;
  for (const auto& [key, value] : evaluation->entries) {
    if (value.is_table()) keys.push_back(key);
  }
  return keys;
}

std::vector<ComponentConfig> resolve_metrics(const ConfigNode& root, const Parameters& evaluation,
                                             const Registry& registry,
                                             std::vector<Diagnostic>& diagnostics) {
  const ConfigNode* node = root.find("evaluation");
  if (node && !node->is_table()) node = nullptr;  // reported by the section's own check
  const ConfigNode* list = node ? node->find("metrics") : nullptr;
  const std::vector<std::string>& names = evaluation.get_strings("metrics");
  if (node) report_unlisted_tables(*node, names, registry, diagnostics);

  std::vector<ComponentConfig> metrics;
  for (std::size_t i = 0; i < names.size(); ++i) {
    const std::string& name = names[i];
    SourceLocation listed_at = node ? node->where : root.where;
    if (list && list->is_array() && i < list->items.size()) listed_at = list->items[i].where;
    if (std::find(names.begin(), names.begin() + static_cast<std::ptrdiff_t>(i), name) !=
        names.begin() + static_cast<std::ptrdiff_t>(i)) {
      diagnostics.push_back({listed_at, "[evaluation]: 'metrics': '" + name + "' is listed twice"});
      continue;
    }
    const ComponentInfo* info = registry.try_find(kinds::metric, name);
    if (!info) continue;  // reported with the list
    const ConfigNode* table = node ? node->find(name) : nullptr;
    if (table && !table->is_table()) table = nullptr;  // reported as an unknown key of [evaluation]
    metrics.push_back(resolve_metric(*info, table, listed_at, evaluation, registry, diagnostics));
  }
  return metrics;
}

std::string metric_tables_toml(const std::vector<ComponentConfig>& metrics) {
  std::string out;
  for (const auto& metric : metrics) {
    if (metric.parameters.values().empty()) continue;
    out += "\n" + table_label(metric.name) + "\n";
    for (const auto& [key, value] : metric.parameters.values()) out += key + " = " + format_value(value) + "\n";
  }
  return out;
}

MetricSetup metric_setup(const ComponentConfig& metric, std::int64_t bootstrap, std::uint64_t bootstrap_seed) {
  MetricSetup setup{{}, bootstrap, bootstrap_seed};
  for (const auto& [key, value] : metric.parameters.values()) {
    if (key == kMetricBootstrap) {
      setup.bootstrap = metric.parameters.get_int(key);
    } else if (key == kMetricBootstrapSeed) {
      setup.bootstrap_seed = static_cast<std::uint64_t>(metric.parameters.get_int(key));
    } else {
      setup.parameters.set(key, value);
    }
  }
  return setup;
}

}  // namespace cerebra::detail
