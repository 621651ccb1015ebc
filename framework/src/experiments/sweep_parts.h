// The state of a sweep's trials, shared by the driver (sweep.cpp) and the
// results it writes (sweep_results.cpp). No torch.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "cerebra/experiments.h"
#include "cerebra/pipeline.h"

namespace cerebra::sweep_detail {

using Assignment = std::vector<std::pair<std::string, ConfigNode>>;

struct Trial {
  int index = 0;             // 0-based; the run is trial-<index + 1>
  Assignment assignment;
  std::string name, run_dir;
  std::string status = "alive";  // alive, pruned, completed, early_stopped, failed
  int epochs = 0;                // epochs trained (a pruned trial's: the rung it stopped at)
  std::vector<double> values;    // the metric at each rung reached
};

// What the sweep is: the pipeline with its overrides, the spec and its trials.
struct Plan {
  std::string file, directory;
  std::vector<std::string> overrides;
  SweepSpec spec;
  std::vector<int> rungs;
  std::string name, output;  // the pipeline's [run] name and output
};

// The trial's pipeline: the file without [sweep], the overrides, the trial's
// values, `epochs` and, when `directory` is given, the trial's place in it.
Pipeline trial_pipeline(const Plan& plan, const Assignment& assignment, int epochs, const std::string& directory,
                        const std::string& name, const Registry& registry);

// The best value of the metric in the run's metrics.jsonl up to `epoch`;
// Error naming the file and the figures it has when the metric is not one.
double metric_up_to(const std::string& run_dir, const SweepSpec& spec, int epoch);

// sweep_results.json / .txt (ranked) and best.toml; returns best.toml's path.
std::string write_sweep_results(const Plan& plan, const std::vector<Trial>& trials, const Registry& registry);

nlohmann::json trial_json(const Trial& trial);

}  // namespace cerebra::sweep_detail
