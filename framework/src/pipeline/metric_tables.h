// Parameters of the metrics a pipeline names: `[evaluation] metrics` lists
// them, and an `[evaluation.NAME]` table (optional) sets the parameters of
// metric NAME, plus `bootstrap` / `bootstrap_seed` for that metric alone.
// Internal to the framework library; torch-free.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cerebra/config.h"
#include "cerebra/error.h"
#include "cerebra/pipeline.h"
#include "cerebra/registry.h"

namespace cerebra::detail {

// Keys of a metric table that belong to the framework, not to the metric.
inline constexpr const char* kMetricBootstrap = "bootstrap";
inline constexpr const char* kMetricBootstrapSeed = "bootstrap_seed";

// The keys of [evaluation] (null: none) that hold tables: metric tables, left
// to resolve_metrics rather than reported as unknown keys of [evaluation].
std::vector<std::string> metric_table_keys(const ConfigNode* evaluation);

// One config per name of `evaluation`'s metrics list, in its order, with every
// default of the metric's schema filled in and `bootstrap` / `bootstrap_seed`
// present only where its table sets them. Problems (a table for a metric not
// listed or not registered, a bad value, a name listed twice) are appended to
// `diagnostics` with their file:line:column.
std::vector<ComponentConfig> resolve_metrics(const ConfigNode& root, const Parameters& evaluation,
                                             const Registry& registry,
                                             std::vector<Diagnostic>& diagnostics);

// The metric tables as TOML, for the resolved pipeline; metrics with nothing
// to write (no parameters) are left out.
std::string metric_tables_toml(const std::vector<ComponentConfig>& metrics);

// What evaluation hands one metric: its own parameters (the framework's keys
// taken out) and its bootstrap settings, [evaluation]'s unless it sets its own.
struct MetricSetup {
  Parameters parameters;
  std::int64_t bootstrap = 0;
  std::uint64_t bootstrap_seed = 7;
};
MetricSetup metric_setup(const ComponentConfig& metric, std::int64_t bootstrap,
                         std::uint64_t bootstrap_seed);

}  // namespace cerebra::detail
