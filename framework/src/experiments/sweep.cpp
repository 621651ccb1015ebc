// `cerebra sweep`: every trial of a [sweep] trained to the first rung, the
// best 1/eta continued (run --resume with more epochs) to the next, and so on
// to the pipeline's epochs: synchronous successive halving. The trials ledger
// (sweep.json) and the trials' run directories let a second call continue.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "cerebra/error.h"
#include "cerebra/files.h"
#include "cerebra/run.h"
#include "cerebra/run_directory.h"
#include "experiment_parts.h"
#include "sweep_parts.h"

namespace cerebra {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace sweep_detail;

namespace {

const char* kLedger = "sweep.json";

// root[a][b]... = value along a dotted key, tables made as needed.
void set_dotted(ConfigNode& root, const std::string& key, ConfigNode value) {
  ConfigNode* table = &root;
  std::size_t start = 0;
  for (std::size_t dot = key.find('.'); dot != std::string::npos; dot = key.find('.', start)) {
    const std::string part = key.substr(start, dot - start);
    if (!table->find(part)) table->set(part, ConfigNode{});
    table = table->find(part);
    if (!table->is_table()) throw Error("[sweep.parameters] '" + key + "': '" + part + "' is not a table");
    start = dot + 1;
  }
  table->set(key.substr(start), std::move(value));
}

// Every trial's pipeline resolved before anything trains: a swept key the
// pipeline does not have is an error at its place in [sweep.parameters].
void check_trials(const Plan& plan, const std::vector<Assignment>& trials, const Registry& registry) {
  std::vector<Diagnostic> problems;
  for (std::size_t t = 0; t < trials.size(); ++t) {
    try {
      trial_pipeline(plan, trials[t], 1, "", "", registry);
    } catch (const ConfigError& error) {
      for (const auto& d : error.diagnostics()) {
        const bool seen = std::any_of(problems.begin(), problems.end(),
                                      [&](const Diagnostic& p) { return p.message == d.message; });
        if (!seen) problems.push_back(d);
      }
    }
  }
  if (!problems.empty()) throw ConfigError(problems);
}

// `rungs_done`: the rungs whose pruning is decided, so a second call does not prune again.
json ledger_json(const Plan& plan, const std::string& fingerprint, const std::vector<Trial>& trials, int rungs_done) {
  json out = {{"pipeline", fs::absolute(plan.file).string()}, {"overrides", plan.overrides},
              {"fingerprint", fingerprint}, {"metric", plan.spec.metric},
              {"goal", plan.spec.maximise ? "max" : "min"}, {"eta", plan.spec.eta}, {"rungs", plan.rungs},
              {"rungs_done", rungs_done}, {"trials", json::array()}};
  for (const auto& trial : trials) out["trials"].push_back(trial_json(trial));
  return out;
}

void save_ledger(const Plan& plan, const std::string& fingerprint, const std::vector<Trial>& trials,
                 int rungs_done) {
  write_file_atomically((fs::path(plan.directory) / kLedger).string(),
                        ledger_json(plan, fingerprint, trials, rungs_done).dump(2) + "\n");
}

// Takes the trials' progress from an earlier call's ledger, when it is the same sweep.
int load_ledger(const Plan& plan, const std::string& fingerprint, std::vector<Trial>& trials) {
  const fs::path file = fs::path(plan.directory) / kLedger;
  if (!fs::exists(file)) return 0;
  json held;
  try {
    held = json::parse(read_file(file.string()));
  } catch (const std::exception& error) {
    throw Error(file.string() + ": not a sweep ledger (" + brief(error) + ")");
  }
  if (held.value("fingerprint", "") != fingerprint || held["trials"].size() != trials.size()) {
    throw Error(file.string() + ": the pipeline, its --set overrides or its [sweep] table differ from the ones " +
                "this sweep started with; give another --out for a new sweep");
  }
  for (std::size_t t = 0; t < trials.size(); ++t) {
    const json& saved = held["trials"][t];
    trials[t].run_dir = saved.value("run", "");
    trials[t].status = saved.value("status", "alive");
    trials[t].epochs = saved.value("epochs", 0);
    trials[t].values = saved.value("values", std::vector<double>{});
  }
  return held.value("rungs_done", 0);
}

// Trains (or resumes) a trial to `epochs`; nothing when its run is there already.
RunResult train_trial(const Plan& plan, Trial& trial, int epochs, const Registry& registry, std::ostream& log) {
  const std::string existing = find_run_dir(plan.directory, trial.name);
  RunOptions options;
  options.log = &log;
  if (!existing.empty()) {
    const RunDirectory run = RunDirectory::open(existing);
    if (run_finished(run)) {
      const RunSummary summary = run.read_summary();
      if (summary.epochs_completed >= epochs || summary.status == "early_stopped") {
        return {existing, summary.status, "", summary.epochs_completed};
      }
    }
    if (fs::exists(run.checkpoint_file("last"))) {
      log << fmt::format("sweep: {}: continuing {} to {} epoch(s)\n", trial.name, existing, epochs);
      options.resume_dir = existing;
      options.overrides = {"training.epochs=" + std::to_string(epochs)};
      return resume_run(existing, registry, options);
    }
    fs::remove_all(existing);  // stopped before its first checkpoint: nothing to keep
  }
  log << fmt::format("sweep: {}: training to {} epoch(s)\n", trial.name, epochs);
  return run_pipeline(trial_pipeline(plan, trial.assignment, epochs, plan.directory, trial.name, registry), registry,
                      options);
}

// The alive trials ranked at rung `k`; all but the best ceil(n / eta) are pruned.
void prune(const Plan& plan, std::vector<Trial>& trials, std::size_t k, std::ostream& log) {
  std::vector<Trial*> alive;
  for (auto& trial : trials) {
    if (trial.status == "alive") alive.push_back(&trial);
  }
  std::stable_sort(alive.begin(), alive.end(), [&](const Trial* a, const Trial* b) {
    return plan.spec.maximise ? a->values[k] > b->values[k] : a->values[k] < b->values[k];
  });
  const auto keep = static_cast<std::size_t>(std::ceil(alive.size() / static_cast<double>(plan.spec.eta)));
  for (std::size_t i = std::max<std::size_t>(keep, 1); i < alive.size(); ++i) {
    alive[i]->status = "pruned";
    tag_run(alive[i]->run_dir, {"pruned"}, log);
    log << fmt::format("sweep: {} pruned at {} epoch(s): {} = {:.4f}\n", alive[i]->name, plan.rungs[k],
                       plan.spec.metric, alive[i]->values[k]);
  }
}

// One rung: every alive trial trained to it and measured. Returns the status
// that stops the sweep ("interrupted", "failed"), or "".
std::string run_rung(const Plan& plan, std::vector<Trial>& trials, std::size_t k, const std::string& fingerprint,
                     const Registry& registry, std::ostream& log) {
  const int done = static_cast<int>(k);
  for (auto& trial : trials) {
    if (trial.status != "alive" || trial.values.size() > k) continue;
    const RunResult result = train_trial(plan, trial, plan.rungs[k], registry, log);
    trial.run_dir = result.run_dir;
    if (result.status == "interrupted") {
      save_ledger(plan, fingerprint, trials, done);
      return "interrupted";
    }
    tag_run(result.run_dir, {"sweep:" + fs::path(plan.directory).filename().string()}, log);
    if (result.status == "failed") {
      trial.status = "failed";
      log << "sweep: " << trial.name << " failed: " << result.message << "\n";
    } else {
      trial.epochs = RunDirectory::open(result.run_dir).read_summary().epochs_completed;
      trial.values.push_back(metric_up_to(result.run_dir, plan.spec, plan.rungs[k]));
      if (result.status == "early_stopped") trial.status = "early_stopped";
    }
    save_ledger(plan, fingerprint, trials, done);
  }
  return "";
}

Plan make_plan(const std::string& file, const SweepOptions& options, const Registry& registry) {
  Plan plan;
  plan.file = file;
  plan.overrides = options.overrides;
  ConfigNode root = load_config_file(file);
  apply_overrides(root, options.overrides);
  plan.spec = parse_sweep(root, file);
  const Pipeline base = trial_pipeline(plan, {}, 0, "", "", registry);
  plan.name = base.section("run").get_string("name");
  if (plan.name.empty()) plan.name = fs::path(file).stem().string();
  plan.output = base.section("run").get_string("output");
  plan.directory = options.directory.empty() ? (fs::path(plan.output) / (plan.name + "-sweep")).string()
                                             : options.directory;
  plan.rungs = sweep_rungs(plan.spec, static_cast<int>(base.section("training").get_int("epochs")));
  return plan;
}

}  // namespace

namespace sweep_detail {

Pipeline trial_pipeline(const Plan& plan, const Assignment& assignment, int epochs, const std::string& directory,
                        const std::string& name, const Registry& registry) {
  ConfigNode root = load_config_file(plan.file);
  apply_overrides(root, plan.overrides);
  root.entries.erase(std::remove_if(root.entries.begin(), root.entries.end(),
                                    [](const auto& entry) { return entry.first == "sweep"; }),
                     root.entries.end());
  for (auto [key, value] : assignment) {
    for (const auto& p : plan.spec.parameters) {
      if (p.key == key) value.where = value.key_where = p.where;
    }
    // A component section the file leaves out (its default, adam) gets its
    // type, or sweeping optimizer.learning_rate would make a section without one.
    const std::string section = key.substr(0, key.find('.'));
    const SectionSpec* spec = find_section(section);
    if (spec && spec->shape == SectionSpec::Shape::Component && !root.find(section) && !spec->default_type.empty()) {
      set_config_value(root, section, "type", string_node(spec->default_type));
    }
    set_dotted(root, key, std::move(value));
  }
  if (epochs > 0) set_config_value(root, "training", "epochs", int_node(epochs));
  if (!directory.empty()) set_config_value(root, "run", "output", string_node(directory));
  if (!name.empty()) set_config_value(root, "run", "name", string_node(name));
  Pipeline pipeline = resolve_pipeline(root, registry);
  pipeline.source_file = plan.file;
  return pipeline;
}

}  // namespace sweep_detail

SweepResult run_sweep(const std::string& file, const Registry& registry, const SweepOptions& options) {
  std::ostream& log = options.log ? *options.log : std::cerr;
  const Plan plan = make_plan(file, options, registry);
  const std::vector<Assignment> assignments = sweep_trials(plan.spec);
  check_trials(plan, assignments, registry);
  std::vector<Trial> trials;
  json fingerprint = {{"pipeline", trial_pipeline(plan, {}, 0, "", "", registry).to_toml()}, {"rungs", plan.rungs}};
  for (std::size_t t = 0; t < assignments.size(); ++t) {
    Trial trial;
    trial.index = static_cast<int>(t);
    trial.assignment = assignments[t];
    trial.name = fmt::format("trial-{:03d}", t + 1);
    fingerprint["trials"].push_back(trial_json(trial)["parameters"]);
    trials.push_back(std::move(trial));
  }
  fingerprint["spec"] = {plan.spec.metric, plan.spec.maximise, plan.spec.eta, plan.spec.min_epochs};
  const std::string print = fingerprint.dump();
  fs::create_directories(plan.directory);
  const int rungs_done = load_ledger(plan, print, trials);
  save_ledger(plan, print, trials, rungs_done);
  log << fmt::format("sweep: {} trial(s) in {}; rungs at epochs {}; metric {} ({})\n", trials.size(),
                     plan.directory, json(plan.rungs).dump(), plan.spec.metric, plan.spec.maximise ? "max" : "min");

  for (std::size_t k = static_cast<std::size_t>(rungs_done); k < plan.rungs.size(); ++k) {
    const std::string stop = run_rung(plan, trials, k, print, registry, log);
    if (!stop.empty()) return {plan.directory, stop, ""};
    if (k + 1 < plan.rungs.size()) prune(plan, trials, k, log);
    save_ledger(plan, print, trials, static_cast<int>(k + 1));
  }
  for (auto& trial : trials) {
    if (trial.status == "alive") trial.status = "completed";
  }
  save_ledger(plan, print, trials, static_cast<int>(plan.rungs.size()));
  return {plan.directory, "completed", write_sweep_results(plan, trials, registry)};
}

}  // namespace cerebra
