// `cerebra kfold` and `cerebra sweep`: experiments of many runs
// (framework/src/experiments/), and how compare and report read a k-fold parent.
#include <filesystem>
#include <iostream>
#include <optional>

#include "cerebra/error.h"
#include "cerebra/experiments.h"
#include "cerebra/files.h"
#include "cerebra/host.h"
#include "invocation.h"

namespace po = boost::program_options;

namespace cerebra::cli {

namespace {

// What a k-fold or sweep that stopped returns: 130 interrupted (run the same
// command again), 1 failed.
int experiment_exit(const std::string& status) {
  if (status == "interrupted") return 130;
  return status == "failed" ? kRunFailed : kOk;
}

// Loads the plugins and runs `experiment` (it fills the verb's result):
// a bad pipeline prints its diagnostics (exit 2), any other error one line
// (exit 1). Nothing when it ran.
template <class Experiment>
std::optional<int> run_guarded(Invocation& in, const Experiment& experiment) {
  int exit_code = kOk;
  auto host = open_host(in.common, false, exit_code);
  if (!host) return exit_code;
  try {
    experiment(host->registry());
  } catch (const ConfigError& error) {
    for (const auto& diagnostic : error.diagnostics()) std::cerr << diagnostic.to_string() << "\n";
    return kBadUsage;
  } catch (const std::exception& error) {
    std::cerr << "cerebra " << in.verb() << ": error: " << brief(error) << "\n";
    return kRunFailed;
  }
  return std::nullopt;
}

}  // namespace

int verb_kfold(Invocation& in) {
  in.describe("cerebra kfold PIPELINE.toml [--folds K] [--repeats R] [--out DIR] [--set section.key=value]...\n\n"
              "k-fold cross-validation: one run per fold (and repeat) under a parent folder\n"
              "(default <[run] output>/<name>-kfold<K>). Fold i is the test set; val is drawn from\n"
              "the other folds ([split] val of each class); folds are stratified and keep duplicate\n"
              "groups whole. Repeats reshuffle with split seed + 1, + 2, ... Writes\n"
              "kfold_summary.json and kfold_summary.txt: mean, sd and 95% t-interval per test metric\n"
              "and per-class recall. Run the same command again to continue an interrupted k-fold:\n"
              "finished folds are skipped, a stopped fold resumes from its last checkpoint.\n"
              "Exit codes: 0 done, 1 a fold failed, 2 bad usage or invalid pipeline, 130 interrupted.");
  KFoldOptions options;
  in.add_options()
      ("folds", po::value(&options.folds)->value_name("K"), "folds (default: [split] folds, else 5)")
      ("repeats", po::value(&options.repeats)->value_name("R"), "repeats with another split seed each (default 1)")
      ("out", po::value(&options.parent)->value_name("DIR"), "the parent folder")
      ("set", po::value(&options.overrides)->composing(), "override a value: section.key=value (repeatable)");
  if (auto code = in.parse(1, 1)) return *code;
  if (in.given("folds") && options.folds < 2) {
    return in.usage_error("--folds must be at least 2, got " + std::to_string(options.folds));
  }
  if (options.repeats < 1) return in.usage_error("--repeats must be at least 1, got " + std::to_string(options.repeats));
  KFoldResult result;
  const auto stop = run_guarded(in, [&](const Registry& registry) { result = run_kfold(in.first(), registry, options); });
  if (stop) return *stop;
  if (result.status == "completed") {
    std::cout << kfold_table(summarize_kfold(result.parent));
    std::cout << "folds trained now: " << result.trained << ", found finished: " << result.skipped << "\n"
              << result.parent << "\n";
  }
  return experiment_exit(result.status);
}

int verb_sweep(Invocation& in) {
  in.describe("cerebra sweep PIPELINE.toml [--out DIR] [--set section.key=value]...\n\n"
              "Runs the trials of the pipeline's [sweep] table (grid, random, log-uniform ranges) with\n"
              "successive halving: every trial trains to the first rung (min_epochs), the best 1/eta by\n"
              "[sweep] metric continue to the next (min_epochs x eta, ...) up to [training] epochs; the\n"
              "others are pruned, their epochs recorded. Trials are run directories under DIR (default\n"
              "<[run] output>/<name>-sweep). Writes sweep_results.json, sweep_results.txt (ranked) and\n"
              "best.toml, the best trial's pipeline for `cerebra run`. Run the same command again after\n"
              "Ctrl-C or a crash to continue (the trials ledger, sweep.json).\n"
              "Exit codes: 0 done, 1 failed, 2 bad usage or invalid pipeline or [sweep], 130 interrupted.");
  SweepOptions options;
  in.add_options()
      ("out", po::value(&options.directory)->value_name("DIR"), "the sweep's folder")
      ("set", po::value(&options.overrides)->composing(), "override a value: section.key=value (repeatable)");
  if (auto code = in.parse(1, 1)) return *code;
  SweepResult result;
  const auto stop = run_guarded(in, [&](const Registry& registry) { result = run_sweep(in.first(), registry, options); });
  if (stop) return *stop;
  if (result.status == "completed") {
    std::cout << read_file((std::filesystem::path(result.directory) / "sweep_results.txt").string())
              << "best pipeline: " << result.best_pipeline << "\n";
  } else {
    std::cerr << "cerebra sweep: " << result.status << "; run the same command again to continue\n";
  }
  return experiment_exit(result.status);
}

bool all_kfold_parents(const std::vector<std::string>& folders) {
  for (const auto& folder : folders) {
    if (!is_kfold_parent(folder)) return false;
  }
  return !folders.empty();
}

int compare_kfold(const std::vector<std::string>& parents, bool json_output) {
  try {
    nlohmann::json out = {{"kfold", nlohmann::json::array()}, {"paired_tests", nlohmann::json::array()}};
    for (std::size_t i = 0; i < parents.size(); ++i) {
      const nlohmann::json summary = summarize_kfold(parents[i]);
      out["kfold"].push_back(summary);
      if (!json_output) std::cout << kfold_table(summary) << "\n";
      if (i == 0) continue;
      if (json_output) {
        out["paired_tests"].push_back(compare_kfold_parents_json(parents[0], parents[i]));
      } else {
        std::cout << compare_kfold_parents(parents[0], parents[i]) << "\n";
      }
    }
    if (json_output) std::cout << out.dump(2) << "\n";
  } catch (const std::exception& error) {
    std::cerr << "cerebra compare: error: " << brief(error) << "\n";
    return kRunFailed;
  }
  return kOk;
}

std::vector<std::string> expand_kfold_parents(const std::vector<std::string>& folders) {
  std::vector<std::string> runs;
  for (const auto& folder : folders) {
    if (!is_kfold_parent(folder)) {
      runs.push_back(folder);
      continue;
    }
    for (const auto& [key, dir] : finished_folds(folder)) runs.push_back(dir);
  }
  return runs;
}

}  // namespace cerebra::cli
