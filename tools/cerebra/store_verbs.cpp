// `cerebra runs ...` and `cerebra models ...`: the run store and the registry
// of trained models (cerebra/run_store.h; docs/experiments.md).
#include <filesystem>
#include <iostream>
#include <set>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cerebra/error.h"
#include "cerebra/run_store.h"
#include "invocation.h"
#include "table.h"

namespace po = boost::program_options;

namespace cerebra::cli {

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const char* kStoreHelp = "the run store (default $CEREBRA_STORE, else runs/.cerebra/store.db)";

std::string store_or_default(const std::string& store) { return store.empty() ? default_store_path() : store; }

std::string value_text(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_null()) return "";
  return value.dump();
}

std::string joined(const std::vector<std::string>& words, const char* separator = ", ") {
  std::string text;
  for (const auto& word : words) text += (text.empty() ? "" : separator) + word;
  return text;
}

json run_json(const StoredRun& run) {
  json out = {{"id", run.id},           {"path", run.path},
              {"name", run.name},       {"status", run.status},
              {"message", run.message}, {"dataset", run.dataset},
              {"model", run.model},     {"code_version", run.code_version},
              {"started_at", run.started_at}, {"updated_at", run.updated_at},
              {"epochs_completed", run.epochs_completed}, {"best_epoch", run.best_epoch},
              {"parameters", run.parameters}, {"metrics", run.metrics},
              {"tags", run.tags}};
  if (!run.epochs.empty()) out["epochs"] = run.epochs;
  return out;
}

std::string metric_text(const StoredRun& run, const std::string& key) {
  auto it = run.metrics.find(key);
  return it == run.metrics.end() ? "—" : format_number(it->second);
}

json version_json(const ModelVersion& v) {
  return {{"name", v.name},   {"version", v.version},        {"stage", v.stage},
          {"run", v.run_path}, {"registered_at", v.registered_at}, {"registered_by", v.registered_by}};
}

// --store FILE, which every runs/models verb takes, and --json where it prints data.
void add_store_options(Invocation& in, std::string& store, bool with_json) {
  if (with_json) in.add_options()("json", po::bool_switch(&in.common.json), "print JSON for tooling");
  in.add_options()("store", po::value(&store)->value_name("FILE"), kStoreHelp);
}

// Runs the verb's work; a problem it throws (a store that cannot be read, a
// run or model that is not there) is printed and the verb fails (exit 1).
template <typename Work>
int guarded(const Invocation& in, Work work) {
  try {
    return work();
  } catch (const std::exception& error) {
    std::cerr << "cerebra " << in.verb() << ": " << brief(error) << "\n";
    return kRunFailed;
  }
}

}  // namespace

int verb_runs_list(Invocation& in) {
  in.describe("cerebra runs list [--where \"KEY OP VALUE [and KEY OP VALUE]...\"] [--json] [--store FILE]\n\n"
              "The runs of the store, oldest first. KEY is a pipeline setting flattened (model,\n"
              "training.epochs, optimizer.learning_rate, preprocess.1.size), a summary metric\n"
              "(test.accuracy, val.loss, seconds), or name, path, status, tag, epochs_completed,\n"
              "best_epoch, code_version, started_at; OP is = != < <= > >=; VALUE is a number, a word,\n"
              "or quoted text. Example: --where \"model=resnet50 and test.accuracy>0.95\".\n"
              "Exit codes: 0 listed (even none), 1 the store could not be read, 2 bad usage or --where.");
  std::string where, store;
  in.add_options()("where", po::value(&where)->value_name("EXPR"), "only the runs matching every term");
  add_store_options(in, store, true);
  if (auto code = in.parse(0, 0)) return *code;
  std::vector<WhereTerm> terms;
  try {
    terms = parse_where(where);
  } catch (const Error& error) {
    return in.usage_error(error.what());
  }
  return guarded(in, [&]() -> int {
    const RunStore runs_store(store_or_default(store), false);
    const auto runs = runs_store.list(terms);
    if (in.common.json) {
      json out = json::array();
      for (const auto& run : runs) out.push_back(run_json(run));
      std::cout << out.dump(2) << "\n";
      return kOk;
    }
    Table table({"id", "run", "status", "model", "dataset", "epochs", "val.accuracy", "test.accuracy", "tags"});
    for (const auto& run : runs) {
      table.add({std::to_string(run.id), run.name, run.status, run.model, run.dataset,
                 std::to_string(run.epochs_completed), metric_text(run, "val.accuracy"),
                 metric_text(run, "test.accuracy"), joined(run.tags)});
    }
    std::cout << table.render() << fmt::format("{} run(s) in {}\n", runs.size(), runs_store.path());
    return kOk;
  });
}

int verb_runs_show(Invocation& in) {
  in.describe("cerebra runs show RUN [--json] [--store FILE]\n\n"
              "One run of the store: where it is, its status and code version, every pipeline\n"
              "setting, its summary metrics, tags and the figures of each epoch. RUN is the run's\n"
              "folder, its name (the folder's name) or its id in `runs list`.");
  std::string store;
  add_store_options(in, store, true);
  if (auto code = in.parse(1, 1)) return *code;
  return guarded(in, [&]() -> int {
    const StoredRun run = RunStore(store_or_default(store), false).find(in.first(), true);
    if (in.common.json) {
      std::cout << run_json(run).dump(2) << "\n";
      return kOk;
    }
    std::cout << fmt::format("run {} (id {})\nfolder: {}\nstatus: {}{}\ndataset: {}  model: {}\nepochs: {} (best {})\n"
                             "code: {}\nstarted: {}  updated: {}\ntags: {}\n",
                             run.name, run.id, run.path, run.status, run.message.empty() ? "" : " (" + run.message + ")",
                             run.dataset, run.model, run.epochs_completed, run.best_epoch, run.code_version,
                             run.started_at, run.updated_at, run.tags.empty() ? "-" : joined(run.tags));
    Table parameters({"parameter", "value"});
    for (const auto& [key, value] : run.parameters) parameters.add({key, value_text(value)});
    Table metrics({"metric", "value"});
    for (const auto& [key, value] : run.metrics) metrics.add({key, format_number(value)});
    std::cout << "\n" << parameters.render() << "\n" << metrics.render();
    if (!run.epochs.empty()) {
      std::vector<std::string> keys{"epoch"};
      for (const auto& [key, value] : run.epochs.back().items()) {
        if (key != "epoch") keys.push_back(key);
      }
      Table epochs(keys);
      for (const auto& line : run.epochs) {
        std::vector<std::string> row;
        for (const auto& key : keys) {
          row.push_back(!line.contains(key) ? "—" : key == "epoch" ? line[key].dump() : format_number(line[key].get<double>()));
        }
        epochs.add(row);
      }
      std::cout << "\n" << epochs.render();
    }
    return kOk;
  });
}

int verb_runs_compare(Invocation& in) {
  in.describe("cerebra runs compare RUN RUN... [--json] [--store FILE]\n\n"
              "The pipeline settings in which the runs differ, then every summary metric side by\n"
              "side. RUN is a run's folder, name or id.");
  std::string store;
  add_store_options(in, store, true);
  if (auto code = in.parse(2, Invocation::kUnlimited)) return *code;
  return guarded(in, [&]() -> int {
    const RunStore runs_store(store_or_default(store), false);
    std::vector<StoredRun> runs;
    for (const auto& reference : in.positional()) runs.push_back(runs_store.find(reference));
    std::set<std::string> parameter_keys, metric_keys;
    for (const auto& run : runs) {
      for (const auto& [key, value] : run.parameters) parameter_keys.insert(key);
      for (const auto& [key, value] : run.metrics) metric_keys.insert(key);
    }
    std::vector<std::string> names;
    for (const auto& run : runs) names.push_back(run.name);
    auto header = [&](const char* first) {
      std::vector<std::string> row{first};
      row.insert(row.end(), names.begin(), names.end());
      return row;
    };
    Table differences(header("parameter")), metrics(header("metric"));
    json out = {{"runs", json::array()}, {"differences", json::object()}, {"metrics", json::object()}};
    for (const auto& run : runs) out["runs"].push_back(run.path);
    for (const auto& key : parameter_keys) {
      std::vector<std::string> row{key};
      std::set<std::string> distinct;
      for (const auto& run : runs) {
        auto it = run.parameters.find(key);
        row.push_back(it == run.parameters.end() ? "—" : value_text(it->second));
        distinct.insert(row.back());
      }
      if (distinct.size() < 2) continue;
      differences.add(row);
      out["differences"][key] = std::vector<std::string>(row.begin() + 1, row.end());
    }
    for (const auto& key : metric_keys) {
      std::vector<std::string> row{key};
      for (const auto& run : runs) {
        row.push_back(metric_text(run, key));
        auto it = run.metrics.find(key);
        out["metrics"][key].push_back(it == run.metrics.end() ? json(nullptr) : json(it->second));
      }
      metrics.add(row);
    }
    if (in.common.json) {
      std::cout << out.dump(2) << "\n";
      return kOk;
    }
    std::cout << (out["differences"].empty() ? "The runs' pipelines are the same.\n" : "Parameters that differ:\n" + differences.render())
              << "\nMetrics:\n" << metrics.render();
    return kOk;
  });
}

namespace {

int change_tags(Invocation& in, bool add) {
  std::string store;
  add_store_options(in, store, false);
  if (auto code = in.parse(2, Invocation::kUnlimited)) return *code;
  return guarded(in, [&]() -> int {
    RunStore runs_store(store_or_default(store), false);
    if (add) runs_store.tag(in.first(), in.rest());
    else runs_store.untag(in.first(), in.rest());
    const StoredRun run = runs_store.find(in.first());
    std::cout << run.name << ": tags " << (run.tags.empty() ? "-" : joined(run.tags)) << "\n";
    return kOk;
  });
}

}  // namespace

int verb_runs_tag(Invocation& in) {
  in.describe("cerebra runs tag RUN TAG... [--store FILE]\n\n"
              "Adds tags to a run (kept in the store only; `runs list --where tag=TAG` finds them).");
  return change_tags(in, true);
}

int verb_runs_untag(Invocation& in) {
  in.describe("cerebra runs untag RUN TAG... [--store FILE]\n\nRemoves tags from a run.");
  return change_tags(in, false);
}

int verb_runs_index(Invocation& in) {
  in.describe("cerebra runs index DIR... [--store FILE]\n\n"
              "Indexes (again) every run directory under each DIR from what its folder holds:\n"
              "pipeline.toml, metrics.jsonl, summary.json. Tags and the registry are kept. Default\n"
              "store: $CEREBRA_STORE, else the one a run in DIR records itself in\n"
              "(DIR/.cerebra/store.db for an output folder).\n"
              "Exit codes: 0 indexed, 1 a folder or run could not be read (the others are indexed).");
  std::string store;
  add_store_options(in, store, false);
  if (auto code = in.parse(1, Invocation::kUnlimited)) return *code;
  int exit_code = kOk;
  for (const auto& folder : in.positional()) {
    const int code = guarded(in, [&]() -> int {
      std::string path = store;
      if (path.empty()) {
        std::error_code error;
        path = fs::exists(fs::path(folder) / "pipeline.toml", error) ? store_path_for_run(folder) : default_store_path(folder);
      }
      RunStore runs_store(path);
      const IndexResult result = runs_store.index_folder(folder);
      for (const auto& problem : result.problems) std::cerr << "cerebra runs index: " << problem << "\n";
      std::cout << fmt::format("indexed {} run(s) from {} into {}\n", result.indexed.size(), folder, runs_store.path());
      return result.problems.empty() ? kOk : kRunFailed;
    });
    if (code != kOk) exit_code = code;
  }
  return exit_code;
}

int verb_runs_gc(Invocation& in) {
  in.describe("cerebra runs gc [--store FILE]\n\n"
              "Drops from the store the runs whose folder is gone, with their parameters, metrics\n"
              "and tags, and prints each. Registered model versions stay (and say their run is gone).");
  std::string store;
  add_store_options(in, store, false);
  if (auto code = in.parse(0, 0)) return *code;
  return guarded(in, [&]() -> int {
    RunStore runs_store(store_or_default(store), false);
    const auto dropped = runs_store.collect_garbage();
    for (const auto& path : dropped) std::cout << "dropped " << path << "\n";
    std::cout << fmt::format("dropped {} run(s) whose folder is gone from {}\n", dropped.size(), runs_store.path());
    return kOk;
  });
}

int verb_models_register(Invocation& in) {
  in.describe("cerebra models register RUN --name NAME [--store FILE]\n\n"
              "Registers a run's model as the next version (1, 2, ...) of NAME, in stage none.\n"
              "RUN is a run's folder (indexed first when the store does not know it), name or id.\n"
              "predict, eval and explain then take models:/NAME/VERSION or models:/NAME/STAGE.");
  std::string name, store;
  in.add_options()("name", po::value(&name)->value_name("NAME"), "the model's name (letters, digits, . _ -)");
  add_store_options(in, store, false);
  if (auto code = in.parse(1, 1)) return *code;
  if (name.empty()) return in.usage_error("--name NAME is required");
  return guarded(in, [&]() -> int {
    const ModelVersion model = RunStore(store_or_default(store)).register_model(in.first(), name);
    std::cout << fmt::format("registered {} as {} version {} (models:/{}/{})\n", model.run_path, model.name,
                             model.version, model.name, model.version);
    return kOk;
  });
}

int verb_models_stage(Invocation& in) {
  in.describe("cerebra models stage NAME VERSION staging|production|archived|none [--store FILE]\n\n"
              "Moves a version to a stage and records the change (who, when, from, to).\n"
              "models:/NAME/STAGE names the newest version in that stage.");
  std::string store;
  add_store_options(in, store, false);
  if (auto code = in.parse(3, 3)) return *code;
  const std::string& version = in.positional()[1];
  if (version.empty() || version.size() > 9 || version.find_first_not_of("0123456789") != std::string::npos) {
    return in.usage_error("VERSION must be a version number, not '" + version + "'");
  }
  return guarded(in, [&]() -> int {
    const StageChange change =
        RunStore(store_or_default(store), false).set_stage(in.first(), std::stoi(version), in.positional()[2]);
    if (change.from_stage == change.to_stage) {
      std::cout << fmt::format("{} version {} is already in {}\n", change.name, change.version, change.to_stage);
    } else {
      std::cout << fmt::format("{} version {}: {} -> {}\n", change.name, change.version, change.from_stage, change.to_stage);
    }
    return kOk;
  });
}

int verb_models_list(Invocation& in) {
  in.describe("cerebra models list [--json] [--store FILE]\n\nEvery registered version: name, version, stage, run.");
  std::string store;
  add_store_options(in, store, true);
  if (auto code = in.parse(0, 0)) return *code;
  return guarded(in, [&]() -> int {
    const auto versions = RunStore(store_or_default(store), false).models();
    if (in.common.json) {
      json out = json::array();
      for (const auto& v : versions) out.push_back(version_json(v));
      std::cout << out.dump(2) << "\n";
      return kOk;
    }
    Table table({"name", "version", "stage", "registered", "by", "run"});
    for (const auto& v : versions) {
      table.add({v.name, std::to_string(v.version), v.stage, v.registered_at, v.registered_by, v.run_path});
    }
    std::cout << table.render();
    return kOk;
  });
}

int verb_models_show(Invocation& in) {
  in.describe("cerebra models show NAME [--json] [--store FILE]\n\nA model's versions and the history of its stages.");
  std::string store;
  add_store_options(in, store, true);
  if (auto code = in.parse(1, 1)) return *code;
  return guarded(in, [&]() -> int {
    const RunStore runs_store(store_or_default(store), false);
    const auto versions = runs_store.models(in.first());
    if (versions.empty()) throw Error(runs_store.no_such_model(in.first()));
    const auto history = runs_store.stage_history(in.first());
    if (in.common.json) {
      json out = {{"name", in.first()}, {"versions", json::array()}, {"history", json::array()}};
      for (const auto& v : versions) out["versions"].push_back(version_json(v));
      for (const auto& c : history) {
        out["history"].push_back({{"version", c.version}, {"from", c.from_stage}, {"to", c.to_stage},
                                  {"at", c.changed_at}, {"by", c.changed_by}});
      }
      std::cout << out.dump(2) << "\n";
      return kOk;
    }
    Table table({"version", "stage", "registered", "by", "run"});
    for (const auto& v : versions) table.add({std::to_string(v.version), v.stage, v.registered_at, v.registered_by, v.run_path});
    Table changes({"when", "version", "from", "to", "by"});
    for (const auto& c : history) changes.add({c.changed_at, std::to_string(c.version), c.from_stage, c.to_stage, c.changed_by});
    std::cout << "model " << in.first() << "\n\n" << table.render() << "\nstage history:\n"
              << (history.empty() ? "(no stage change yet)\n" : changes.render());
    return kOk;
  });
}

}  // namespace cerebra::cli
