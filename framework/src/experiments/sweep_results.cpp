// What a sweep leaves for people: the trials ranked (JSON and a table) and
// the best trial's pipeline as a file `cerebra run` takes as it is.
#include <algorithm>
#include <filesystem>
#include <sstream>

#include <fmt/format.h>

#include "cerebra/error.h"
#include "cerebra/files.h"
#include "cerebra/run_directory.h"
#include "sweep_parts.h"

namespace cerebra::sweep_detail {

namespace fs = std::filesystem;
using nlohmann::json;

double metric_up_to(const std::string& run_dir, const SweepSpec& spec, int epoch) {
  const RunDirectory run = RunDirectory::open(run_dir);
  bool found = false;
  double best = 0;
  std::vector<std::string> figures;
  for (const auto& line : run.read_metrics()) {
    if (line.value("epoch", 0) > epoch) break;
    if (!line.contains(spec.metric) || !line[spec.metric].is_number()) {
      if (figures.empty()) for (const auto& [key, value] : line.items()) if (value.is_number()) figures.push_back(key);
      continue;
    }
    const double value = line[spec.metric];
    if (!found || (spec.maximise ? value > best : value < best)) best = value;
    found = true;
  }
  if (!found) {
    throw Error(fmt::format("[sweep] metric '{}' is not a figure of {} (its figures: {})", spec.metric,
                            run.metrics_file(), join(figures)));
  }
  return best;
}

json trial_json(const Trial& trial) {
  json parameters = json::object();
  for (const auto& [key, value] : trial.assignment) parameters[key] = config_value_json(value);
  return {{"trial", trial.index + 1}, {"name", trial.name}, {"parameters", parameters}, {"run", trial.run_dir},
          {"status", trial.status}, {"epochs", trial.epochs}, {"values", trial.values}};
}

namespace {

// Ranked: the trials that reached more rungs first, then by their value at
// the last rung they reached; failed trials last.
std::vector<const Trial*> ranked(const std::vector<Trial>& trials, bool maximise) {
  std::vector<const Trial*> order;
  for (const auto& trial : trials) order.push_back(&trial);
  std::stable_sort(order.begin(), order.end(), [&](const Trial* a, const Trial* b) {
    if (a->values.size() != b->values.size()) return a->values.size() > b->values.size();
    if (a->values.empty()) return false;
    return maximise ? a->values.back() > b->values.back() : a->values.back() < b->values.back();
  });
  return order;
}

std::string table(const Plan& plan, const std::vector<const Trial*>& order) {
  std::ostringstream out;
  out << fmt::format("sweep {}: {} trial(s), successive halving (eta {}) at epochs {}\n", plan.directory,
                     order.size(), plan.spec.eta, json(plan.rungs).dump());
  out << fmt::format("{:<5} {:<10}", "rank", "trial");
  for (const auto& p : plan.spec.parameters) out << fmt::format(" {:>24}", p.key);
  out << fmt::format(" {:>7} {:<14} {:>12}\n", "epochs", "status", plan.spec.metric);
  for (std::size_t i = 0; i < order.size(); ++i) {
    const Trial& t = *order[i];
    out << fmt::format("{:<5} {:<10}", i + 1, t.name);
    for (const auto& [key, value] : t.assignment) out << fmt::format(" {:>24}", config_value_text(value));
    const std::string value = t.values.empty() ? "-" : fmt::format("{:.4f}", t.values.back());
    out << fmt::format(" {:>7} {:<14} {:>12}\n", t.epochs, t.status, value);
  }
  return out.str();
}

}  // namespace

std::string write_sweep_results(const Plan& plan, const std::vector<Trial>& trials, const Registry& registry) {
  const auto order = ranked(trials, plan.spec.maximise);
  json results = {{"directory", plan.directory}, {"pipeline", plan.file}, {"metric", plan.spec.metric},
                  {"goal", plan.spec.maximise ? "max" : "min"}, {"eta", plan.spec.eta}, {"rungs", plan.rungs},
                  {"trials", json::array()}};
  for (std::size_t i = 0; i < order.size(); ++i) {
    json trial = trial_json(*order[i]);
    trial["rank"] = i + 1;
    results["trials"].push_back(trial);
  }
  const fs::path dir(plan.directory);
  const std::string best_file = (dir / "best.toml").string();
  if (order.empty() || order.front()->values.empty()) throw Error(plan.directory + ": no trial finished");
  // The best trial's values in the user's pipeline, at the full epochs, with
  // the user's output folder: `cerebra run best.toml` trains it from scratch.
  const Pipeline best = trial_pipeline(plan, order.front()->assignment, plan.rungs.back(), plan.output,
                                       plan.name + "-best", registry);
  results["best"] = trial_json(*order.front());
  results["best_pipeline"] = best_file;
  write_file_atomically(best_file, "# The best trial (" + order.front()->name + ") of the sweep in " +
                                       plan.directory + ", from " + plan.file + ".\n" + best.to_toml());
  write_file_atomically((dir / "sweep_results.json").string(), results.dump(2) + "\n");
  write_file_atomically((dir / "sweep_results.txt").string(), table(plan, order));
  return best_file;
}

}  // namespace cerebra::sweep_detail
