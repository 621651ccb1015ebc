// Two k-fold parents fold by fold: a paired t-test per test metric over the
// folds both finished. Pairs only folds with the same test images (same data,
// folds and split seed); otherwise the test would compare the folds' data.
#include <cmath>
#include <filesystem>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "cerebra/error.h"
#include "cerebra/experiments.h"
#include "cerebra/run_directory.h"
#include "cerebra/statistics.h"

namespace cerebra {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::set<std::string> test_files(const std::string& run_dir) {
  std::set<std::string> files;
  for (const auto& row : RunDirectory::open(run_dir).read_split()) {
    if (row.split == "test") files.insert(row.file);
  }
  return files;
}

// The per-fold figures of a summary by (repeat, fold).
std::map<std::pair<int, int>, json> runs_by_fold(const json& summary) {
  std::map<std::pair<int, int>, json> runs;
  for (const auto& run : summary["runs"]) runs[{run["repeat"].get<int>(), run["fold"].get<int>()}] = run;
  return runs;
}

}  // namespace

json compare_kfold_parents_json(const std::string& first, const std::string& second) {
  const json a = summarize_kfold(first), b = summarize_kfold(second);
  const auto runs_a = runs_by_fold(a), runs_b = runs_by_fold(b);
  json result = {{"first", first}, {"second", second}, {"paired_folds", 0}, {"unpaired", json::array()},
                 {"tests", json::array()}};
  std::vector<std::pair<json, json>> pairs;
  for (const auto& [key, run_a] : runs_a) {
    const auto found = runs_b.find(key);
    const std::string name = fmt::format("repeat {} fold {}", key.first, key.second);
    if (found == runs_b.end()) {
      result["unpaired"].push_back(name + ": finished in the first only");
    } else if (test_files(run_a["run"].get<std::string>()) != test_files(found->second["run"].get<std::string>())) {
      result["unpaired"].push_back(name + ": the test images differ (another split seed or data)");
    } else {
      pairs.emplace_back(run_a, found->second);
    }
  }
  result["paired_folds"] = pairs.size();
  for (const auto& [metric, spread] : a["metrics"].items()) {
    std::vector<double> x, y;
    for (const auto& [run_a, run_b] : pairs) {
      if (run_a["metrics"].contains(metric) && run_b["metrics"].contains(metric)) {
        x.push_back(run_a["metrics"][metric].get<double>());
        y.push_back(run_b["metrics"][metric].get<double>());
      }
    }
    if (x.size() < 2) continue;
    const statistics::PairedTTest t = statistics::paired_t_test(x, y);
    result["tests"].push_back({{"metric", metric}, {"folds", t.pairs}, {"first_mean", metric_spread(x).mean},
                               {"second_mean", metric_spread(y).mean}, {"mean_difference", t.mean_difference},
                               {"t", std::isfinite(t.t) ? json(t.t) : json(nullptr)},
                               {"degrees_of_freedom", t.degrees_of_freedom}, {"p_value", t.p_value},
                               {"significant", t.p_value < 0.05}});
  }
  return result;
}

std::string compare_kfold_parents(const std::string& first, const std::string& second) {
  const json r = compare_kfold_parents_json(first, second);
  std::ostringstream out;
  out << fmt::format("{} against {}, paired over {} fold(s) (paired t-test, second minus first):\n", second, first,
                     r["paired_folds"].get<int>());
  out << fmt::format("{:<28} {:>8} {:>8} {:>11} {:>8} {:>9}\n", "metric", "first", "second", "difference", "t", "p");
  for (const auto& test : r["tests"]) {
    const std::string t = test["t"].is_null() ? "inf" : fmt::format("{:.3f}", test["t"].get<double>());
    out << fmt::format("{:<28} {:>8.4f} {:>8.4f} {:>+11.4f} {:>8} {:>9.4f}{}\n", test["metric"].get<std::string>(),
                       test["first_mean"].get<double>(), test["second_mean"].get<double>(),
                       test["mean_difference"].get<double>(), t, test["p_value"].get<double>(),
                       test["significant"].get<bool>() ? "" : " †");
  }
  for (const auto& line : r["unpaired"]) out << "not paired: " << line.get<std::string>() << "\n";
  out << "† not significant at 0.05. The folds' training sets overlap, so the p-value is optimistic "
         "(no Nadeau-Bengio correction).\n";
  return out.str();
}

}  // namespace cerebra
