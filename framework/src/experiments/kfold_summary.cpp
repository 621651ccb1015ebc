// The summary of a k-fold parent, read from its fold run directories (the
// source of truth): each test metric's headline value and each class's recall
// per fold, their mean, standard deviation and 95% t-interval.
#include <filesystem>
#include <regex>
#include <sstream>

#include <fmt/format.h>

#include "cerebra/error.h"
#include "cerebra/evaluate.h"
#include "cerebra/experiments.h"
#include "cerebra/files.h"
#include "cerebra/run_directory.h"
#include "experiment_parts.h"

namespace cerebra {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// (repeat, fold), 0-based, of a fold folder's name, or (-1, -1).
std::pair<int, int> fold_of_folder(const std::string& folder) {
  static const std::regex pattern("(?:r([0-9]+)-)?fold-([0-9]+)-[0-9]{8}-[0-9]{6}(?:-[0-9]+)?");
  std::smatch match;
  if (!std::regex_match(folder, match, pattern)) return {-1, -1};
  const int repeat = match[1].matched ? std::stoi(match[1].str()) - 1 : 0;
  return {repeat, std::stoi(match[2].str()) - 1};
}

// The figures of one finished fold: test loss, each metric's headline value,
// and recall per class counted from the test predictions (so it is there
// whatever metrics the pipeline listed).
std::map<std::string, double> fold_figures(const RunDirectory& run) {
  const RunSummary summary = run.read_summary();
  std::map<std::string, double> figures;
  const json& test = summary.raw.contains("test") ? summary.raw["test"] : json();
  if (test.is_object() && test.contains("loss") && test["loss"].is_number()) figures["test.loss"] = test["loss"].get<double>();
  if (summary.test_metrics.is_object()) {
    for (const auto& [name, report] : summary.test_metrics.items()) {
      // A confusion matrix's headline value is the accuracy again: its counts
      // are per fold, and the recalls below come from them.
      if (is_matrix(report)) continue;
      if (report.is_object() && report.contains("value") && report["value"].is_number()) {
        figures["test." + name] = report["value"].get<double>();
      }
    }
  }
  if (!run.has_test_predictions()) return figures;
  std::vector<long> seen(summary.classes.size(), 0), right(summary.classes.size(), 0);
  for (const auto& p : run.read_test_predictions(summary.classes)) {
    if (p.label < 0 || p.label >= static_cast<int>(seen.size())) continue;
    ++seen[p.label];
    right[p.label] += p.predicted == p.label ? 1 : 0;
  }
  for (std::size_t c = 0; c < seen.size(); ++c) {
    if (seen[c] > 0) figures["test.recall." + summary.classes[c]] = static_cast<double>(right[c]) / seen[c];
  }
  return figures;
}

json spread_json(const std::vector<double>& values) {
  const MetricSpread spread = metric_spread(values);
  return {{"values", values}, {"n", values.size()}, {"mean", spread.mean}, {"sd", spread.sd},
          {"ci95", {spread.low, spread.high}}};
}

}  // namespace

std::map<std::pair<int, int>, std::string> finished_folds(const std::string& parent) {
  std::map<std::pair<int, int>, std::string> folds;
  for (const auto& entry : fs::directory_iterator(parent)) {
    const auto key = fold_of_folder(entry.path().filename().string());
    if (key.first < 0 || !entry.is_directory()) continue;
    const RunDirectory run = RunDirectory::open(entry.path().string());
    // Several folders of one fold (a restart): the newest finished one counts.
    if (run_finished(run) && (!folds.count(key) || folds[key] < entry.path().string())) {
      folds[key] = entry.path().string();
    }
  }
  return folds;
}

json summarize_kfold(const std::string& parent) {
  const json ledger = json::parse(read_file((fs::path(parent) / "kfold.json").string()));
  const auto folds = finished_folds(parent);
  if (folds.empty()) throw Error(parent + ": no fold has finished yet");
  json runs = json::array();
  std::map<std::string, std::vector<double>> values;
  for (const auto& [key, dir] : folds) {
    const auto figures = fold_figures(RunDirectory::open(dir));
    runs.push_back({{"repeat", key.first + 1}, {"fold", key.second + 1}, {"run", dir}, {"metrics", figures}});
    for (const auto& [name, value] : figures) values[name].push_back(value);
  }
  json metrics = json::object();
  for (const auto& [name, list] : values) metrics[name] = spread_json(list);
  const int expected = ledger.value("folds", 0) * ledger.value("repeats", 1);
  return {{"parent", parent}, {"pipeline", ledger.value("pipeline", "")}, {"folds", ledger.value("folds", 0)},
          {"repeats", ledger.value("repeats", 1)}, {"finished", folds.size()}, {"expected", expected},
          {"confidence", 0.95}, {"interval", "t"}, {"metrics", metrics}, {"runs", runs}};
}

std::string kfold_table(const json& summary) {
  std::ostringstream out;
  out << fmt::format("k-fold {}: {} folds x {} repeat(s), {} of {} finished\n", summary["parent"].get<std::string>(),
                     summary["folds"].get<int>(), summary["repeats"].get<int>(), summary["finished"].get<int>(),
                     summary["expected"].get<int>());
  out << fmt::format("{:<28} {:>8} {:>8}  {:<20} {:>5}\n", "metric", "mean", "sd", "95% interval (t)", "folds");
  for (const auto& [name, m] : summary["metrics"].items()) {
    out << fmt::format("{:<28} {:>8.4f} {:>8.4f}  [{:.4f}, {:.4f}]  {:>5}\n", name, m["mean"].get<double>(),
                       m["sd"].get<double>(), m["ci95"][0].get<double>(), m["ci95"][1].get<double>(),
                       m["n"].get<int>());
  }
  out << "\n" << fmt::format("{:<7} {:>5} {:>10}  {}\n", "repeat", "fold", "accuracy", "run");
  for (const auto& run : summary["runs"]) {
    const json& figures = run["metrics"];
    const std::string accuracy =
        figures.contains("test.accuracy") ? fmt::format("{:.4f}", figures["test.accuracy"].get<double>()) : "-";
    out << fmt::format("{:<7} {:>5} {:>10}  {}\n", run["repeat"].get<int>(), run["fold"].get<int>(), accuracy,
                       fs::path(run["run"].get<std::string>()).filename().string());
  }
  return out.str();
}

json write_kfold_summary(const std::string& parent) {
  const json summary = summarize_kfold(parent);
  write_file_atomically((fs::path(parent) / "kfold_summary.json").string(), summary.dump(2) + "\n");
  write_file_atomically((fs::path(parent) / "kfold_summary.txt").string(), kfold_table(summary));
  return summary;
}

}  // namespace cerebra
