// Experiments made of many runs: k-fold cross-validation (`cerebra kfold`)
// and hyper-parameter sweeps with successive halving (`cerebra sweep`). Each
// fold or trial is an ordinary run directory, trained by run_pipeline and
// indexed in the run store like any run; these functions decide what to run,
// skip what is finished, and summarise. docs/experiments.md describes the
// files they write. No torch here.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "cerebra/config.h"
#include "cerebra/registry.h"

namespace cerebra {

// ---- Figures over folds ----------------------------------------------------

// The spread of one metric over folds: mean, sample standard deviation
// (n - 1), and the t-based interval mean +- t_{(1+c)/2, n-1} sd / sqrt(n).
struct MetricSpread {
  std::vector<double> values;
  double mean = 0, sd = 0, low = 0, high = 0;
};
// Error for fewer than one value; one value gives sd 0 and an interval of that value.
MetricSpread metric_spread(const std::vector<double>& values, double confidence = 0.95);

// Quantile of Student's t distribution with `df` degrees of freedom, p in (0, 1).
double student_t_quantile(double p, double degrees_of_freedom);

// ---- k-fold ----------------------------------------------------------------

struct KFoldOptions {
  int folds = 0;  // 0: the pipeline's [split] folds, else 5
  int repeats = 1;
  std::string parent;                   // empty: <[run] output>/<name>-kfold<K>
  std::vector<std::string> overrides;   // --set section.key=value, for every fold
  std::ostream* log = nullptr;          // default std::cerr
};

struct KFoldResult {
  std::string parent;
  std::string status;  // completed, interrupted or failed (a fold's status)
  int trained = 0, skipped = 0;  // folds run by this call, folds found finished
};

// The folder name of fold `fold` (0-based) of repeat `repeat` (0-based):
// fold-1, ..., r2-fold-1, ... (a run directory is that name plus a time).
std::string fold_run_name(int repeat, int fold);

// Runs every unfinished fold of every repeat in the parent, then writes the
// summary (kfold_summary.json, kfold_summary.txt). A fold whose run directory
// has a summary.json of a completed (or early-stopped) run is skipped; one
// with a checkpoint resumes from it; one without is removed and started again.
// Throws ConfigError for a bad pipeline, Error for bad options or a parent
// that holds another experiment.
KFoldResult run_kfold(const std::string& pipeline_file, const Registry& registry, const KFoldOptions& options);

// Whether `folder` is a k-fold parent (holds kfold.json).
bool is_kfold_parent(const std::string& folder);

// The summary of a k-fold parent from its fold run directories: per test
// metric (headline values) and per-class recall (from the test predictions),
// the spread over the finished folds. Error when no fold has finished.
nlohmann::json summarize_kfold(const std::string& parent);
// The summary as a readable table.
std::string kfold_table(const nlohmann::json& summary);
// Writes kfold_summary.json and kfold_summary.txt into the parent; returns the summary.
nlohmann::json write_kfold_summary(const std::string& parent);
// The finished fold run directories of a parent, by (repeat, fold), 0-based.
std::map<std::pair<int, int>, std::string> finished_folds(const std::string& parent);

// Two k-fold parents, fold by fold: a paired t-test per test metric over the
// folds both finished with the same test images. Text for the terminal.
std::string compare_kfold_parents(const std::string& first, const std::string& second);
nlohmann::json compare_kfold_parents_json(const std::string& first, const std::string& second);

// ---- Sweeps ------------------------------------------------------------------

// One swept pipeline key ("optimizer.learning_rate") and where its values come from.
struct SweepParameter {
  std::string key;
  enum class Kind { Values, Uniform, LogUniform, IntUniform } kind = Kind::Values;
  std::vector<ConfigNode> values;  // Values
  double low = 0, high = 0;        // the ranges
  SourceLocation where;            // in [sweep.parameters], for errors the trials' pipelines raise
};

// A pipeline's [sweep] table (docs/experiments.md, "Sweeps").
struct SweepSpec {
  std::string method = "grid";  // grid | random
  int budget = 0;               // trials; grid: 0 runs every combination
  std::string metric = "val_accuracy";
  bool maximise = true;
  int eta = 3;                  // successive halving keeps the best 1/eta at each rung
  int min_epochs = 1;           // the first rung
  std::uint64_t seed = 0;       // random draws (and a grid's subset when budget is smaller)
  std::vector<SweepParameter> parameters;
};

// Reads `[sweep]` of a loaded pipeline file; ConfigError naming the file,
// line and problem for each wrong type, unknown key, empty list or range.
SweepSpec parse_sweep(const ConfigNode& root, const std::string& file);

// The trials: one assignment (key -> value) per trial, in order. Grid: every
// combination, the first key slowest (a seeded subset of `budget` when smaller);
// random: `budget` seeded draws.
std::vector<std::vector<std::pair<std::string, ConfigNode>>> sweep_trials(const SweepSpec& spec);

// Epochs at which trials are ranked: min_epochs, x eta, ..., ending at `epochs`.
std::vector<int> sweep_rungs(const SweepSpec& spec, int epochs);

// A value for tables and JSON: 0.001, 5, "adam", true.
std::string config_value_text(const ConfigNode& value);
nlohmann::json config_value_json(const ConfigNode& value);

struct SweepOptions {
  std::string directory;                // empty: <[run] output>/<name>-sweep
  std::vector<std::string> overrides;   // --set, for every trial
  std::ostream* log = nullptr;
};

struct SweepResult {
  std::string directory;
  std::string status;  // completed, interrupted or failed
  std::string best_pipeline;  // best.toml, when completed
};

// Runs the sweep's trials with successive halving, resumable from the trials
// ledger (sweep.json) in its directory; writes sweep_results.json,
// sweep_results.txt (ranked) and best.toml.
SweepResult run_sweep(const std::string& pipeline_file, const Registry& registry, const SweepOptions& options);

}  // namespace cerebra
