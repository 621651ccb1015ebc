// `cerebra kfold`: one ordinary run per fold (and repeat) under a parent
// folder, found again by name on a second call so that an interrupted k-fold
// continues with its next unfinished fold.
#include <algorithm>
#include <filesystem>
#include <functional>
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cerebra/error.h"
#include "cerebra/experiments.h"
#include "cerebra/files.h"
#include "cerebra/pipeline.h"
#include "cerebra/run.h"
#include "cerebra/run_directory.h"
#include "experiment_parts.h"

namespace cerebra {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const char* kLedger = "kfold.json";

// The fold's pipeline: the user's file and --set overrides, then the fold's
// own split and place (set on the tree, so no path needs TOML quoting).
Pipeline fold_pipeline(const std::string& file, const KFoldOptions& options, const std::string& parent,
                       std::int64_t split_seed, int repeat, int fold, const Registry& registry) {
  ConfigNode root = load_config_file(file);
  apply_overrides(root, options.overrides);
  set_config_value(root, "split", "folds", int_node(options.folds));
  set_config_value(root, "split", "fold", int_node(fold));
  set_config_value(root, "split", "fold_split", string_node("test"));
  if (split_seed >= 0) set_config_value(root, "split", "seed", int_node(split_seed + repeat));
  set_config_value(root, "run", "output", string_node(parent));
  set_config_value(root, "run", "name", string_node(fold_run_name(repeat, fold)));
  Pipeline pipeline = resolve_pipeline(root, registry);
  pipeline.source_file = file;
  return pipeline;
}

// The parent's ledger says what experiment it holds; a second call must be
// the same experiment (more repeats allowed), or it would mix two in one summary.
void check_or_write_ledger(const std::string& parent, const std::string& pipeline_file, const KFoldOptions& options,
                           const std::string& fingerprint) {
  const fs::path ledger = fs::path(parent) / kLedger;
  json wanted = {{"pipeline", fs::absolute(pipeline_file).string()}, {"overrides", options.overrides},
                 {"folds", options.folds}, {"repeats", options.repeats}, {"resolved_pipeline", fingerprint}};
  if (fs::exists(ledger)) {
    json held;
    try {
      held = json::parse(read_file(ledger.string()));
    } catch (const std::exception& error) {
      throw Error(ledger.string() + ": not a k-fold ledger (" + brief(error) + ")");
    }
    const std::string hint = "; give another --out for a new k-fold";
    if (held.value("folds", 0) != options.folds) {
      throw Error(fmt::format("{}: this k-fold has {} folds, not {}{}", ledger.string(), held.value("folds", 0),
                              options.folds, hint));
    }
    if (held.value("resolved_pipeline", "") != fingerprint) {
      throw Error(ledger.string() + ": the pipeline (or its --set overrides) differs from the one this k-fold " +
                  "started with" + hint);
    }
    wanted["repeats"] = std::max(options.repeats, held.value("repeats", 1));
  }
  fs::create_directories(parent);
  write_file_atomically(ledger.string(), wanted.dump(2) + "\n");
}

}  // namespace

std::string fold_run_name(int repeat, int fold) {
  const std::string name = "fold-" + std::to_string(fold + 1);
  return repeat == 0 ? name : "r" + std::to_string(repeat + 1) + "-" + name;
}

bool is_kfold_parent(const std::string& folder) {
  std::error_code error;
  return fs::is_regular_file(fs::path(folder) / kLedger, error);
}

namespace {

// One fold: skipped when finished, resumed from its checkpoint, or (re)started.
RunResult run_one_fold(const std::function<Pipeline()>& make_pipeline, const std::string& parent,
                       const std::string& name, const Registry& registry, std::ostream& log, bool& skipped) {
  const std::string existing = find_run_dir(parent, name);
  skipped = false;
  if (!existing.empty()) {
    const RunDirectory run = RunDirectory::open(existing);
    if (run_finished(run)) {
      log << "kfold: " << name << ": finished in " << existing << "; skipped\n";
      skipped = true;
      return {existing, run.read_summary().status, "", 0};
    }
    RunOptions options;
    options.log = &log;
    options.resume_dir = existing;
    if (fs::exists(run.checkpoint_file("last"))) {
      log << "kfold: " << name << ": resuming " << existing << " from its last checkpoint\n";
      return resume_run(existing, registry, options);
    }
    log << "kfold: " << name << ": " << existing << " stopped before its first checkpoint; starting again\n";
    fs::remove_all(existing);
  }
  RunOptions options;
  options.log = &log;
  return run_pipeline(make_pipeline(), registry, options);
}

}  // namespace

KFoldResult run_kfold(const std::string& pipeline_file, const Registry& registry, const KFoldOptions& given) {
  KFoldOptions options = given;
  // Resolved once up front: a bad pipeline fails before any folder is made.
  const Pipeline probe = load_pipeline(pipeline_file, options.overrides, registry);
  if (options.folds == 0) {  // not given: the pipeline's [split] folds, else 5
    const std::int64_t own = probe.section("split").get_int("folds");
    options.folds = own > 0 ? static_cast<int>(own) : 5;
  }
  if (options.folds < 2) throw Error(fmt::format("--folds must be at least 2, got {}", options.folds));
  if (options.folds > 100) throw Error(fmt::format("--folds must be at most 100, got {}", options.folds));
  if (options.repeats < 1) throw Error(fmt::format("--repeats must be at least 1, got {}", options.repeats));
  std::ostream& log = options.log ? *options.log : std::cerr;

  const Parameters& run = probe.section("run");
  std::string name = run.get_string("name");
  if (name.empty()) name = fs::path(pipeline_file).stem().string();
  const std::string parent =
      options.parent.empty() ? (fs::path(run.get_string("output")) / (name + "-kfold" + std::to_string(options.folds))).string()
                             : options.parent;
  const std::int64_t own_seed = probe.section("split").get_int("seed");
  const std::int64_t split_seed = own_seed >= 0 ? own_seed : run.get_int("seed");
  auto make = [&](int repeat, int fold) {
    return fold_pipeline(pipeline_file, options, parent, split_seed, repeat, fold, registry);
  };
  check_or_write_ledger(parent, pipeline_file, options, make(0, 0).to_toml());

  KFoldResult result{parent, "completed", 0, 0};
  for (int repeat = 0; repeat < options.repeats; ++repeat) {
    for (int fold = 0; fold < options.folds; ++fold) {
      const std::string fold_name = fold_run_name(repeat, fold);
      log << fmt::format("kfold: fold {}/{} of repeat {}/{} ({}) in {}\n", fold + 1, options.folds, repeat + 1,
                         options.repeats, fold_name, parent);
      bool skipped = false;
      const RunResult run_result =
          run_one_fold([&] { return make(repeat, fold); }, parent, fold_name, registry, log, skipped);
      if (skipped) {
        ++result.skipped;
        continue;
      }
      tag_run(run_result.run_dir, {"kfold:" + fs::path(parent).filename().string()}, log);
      if (run_result.status == "interrupted" || run_result.status == "failed") {
        result.status = run_result.status;
        log << "kfold: " << fold_name << " " << run_result.status << "; run the same command again to continue\n";
        return result;
      }
      ++result.trained;
    }
  }
  write_kfold_summary(parent);
  return result;
}

}  // namespace cerebra
