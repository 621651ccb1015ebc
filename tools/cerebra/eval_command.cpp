// `cerebra eval`: one run on a split or a folder (results written to the run's
// eval/), or an ensemble of runs whose probabilities are averaged.
#include <cmath>
#include <filesystem>
#include <iostream>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cerebra/evaluate.h"
#include "cerebra/host.h"
#include "cerebra/run_directory.h"
#include "commands.h"
#include "table.h"

namespace cerebra::cli {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string format_interval(const json& report) {
  if (!report.contains("ci95") || !report["ci95"].is_array() || report["ci95"].size() != 2) return "";
  const json& ci = report["ci95"];
  if (!ci[0].is_number() || !ci[1].is_number()) return "";
  return fmt::format("[{:.4f}, {:.4f}]", ci[0].get<double>(), ci[1].get<double>());
}

std::string describe_tta(const std::vector<std::string>& tta) { return tta.empty() ? "none" : join(tta, ","); }

// The metrics in the order the pipeline lists them, not the JSON object's sorted order.
std::string metrics_table(const EvaluationReport& report, const TrainedRun& run) {
  Table table({"metric", "value", "average", "95% CI"});
  for (const auto& name : run.pipeline().section("evaluation").get_strings("metrics")) {
    if (!report.metrics.contains(name)) continue;
    const json& metric = report.metrics[name];
    if (is_matrix(metric)) continue;  // the counts follow as their own table
    std::string average =
        metric.contains("average") && metric["average"].is_string() ? metric["average"].get<std::string>() : "";
    // A metric about one class (worst_class_recall) names it.
    if (metric.contains("class") && metric["class"].is_string()) average += " (" + metric["class"].get<std::string>() + ")";
    table.add({name, format_number(headline(metric)), average, format_interval(metric)});
  }
  return table.render();
}

std::string confusion_table(const EvaluationReport& report, const std::vector<std::string>& classes) {
  std::vector<std::string> header{"true \\ predicted"};
  for (const auto& name : classes) header.push_back(name);
  Table matrix(header);
  const auto counts = confusion_counts(report.predictions, classes.size());
  for (std::size_t t = 0; t < counts.size(); ++t) {
    std::vector<std::string> row{classes[t]};
    for (std::size_t count : counts[t]) row.push_back(std::to_string(count));
    matrix.add(row);
  }
  return matrix.render();
}

json skipped_json(const EvaluationReport& report) {
  json out = json::array();
  for (const auto& [file, reason] : report.skipped) out.push_back({{"file", file}, {"reason", reason}});
  return out;
}

// Where a folder's results go beside the split results, never over them.
std::string folder_result_name(const std::string& data) {
  std::string name = fs::path(data).lexically_normal().filename().string();
  if (name.empty() || name == "." || name == "..") {
    name = fs::absolute(data).lexically_normal().parent_path().filename().string();
  }
  return name.empty() ? "data" : name;
}

int evaluate_one(TrainedRun& run, const std::string& run_dir, const EvalOptions& options) {
  const bool folder = !options.data.empty();
  EvaluationReport report = folder ? run.evaluate_folder(options.data) : run.evaluate_split(options.split);
  json out;
  out["run"] = run_dir;
  if (folder) out["data"] = options.data; else out["split"] = options.split;
  out["classes"] = run.class_names();
  out["tta"] = run.tta();
  out["images"] = report.images;
  out["loss"] = report.loss;
  out["metrics"] = report.metrics;
  out["skipped"] = skipped_json(report);
  const fs::path out_dir = RunDirectory::open(run_dir).write_evaluation(folder ? folder_result_name(options.data) : "",
                                                                        out, report.predictions, run.class_names());
  if (options.json) {
    std::cout << out.dump(2) << "\n";
    return kOk;
  }
  std::cout << fmt::format("{} — {}: {} images, loss {:.4f} ({})\n", run_dir,
                           folder ? options.data : options.split + " split", report.images, report.loss, run.device());
  if (!run.tta().empty()) {
    std::cout << fmt::format("test-time augmentation: {} (probabilities averaged over the image and {} variant(s))\n",
                             describe_tta(run.tta()), run.tta().size());
  }
  std::cout << "\n" << metrics_table(report, run) << "\n" << confusion_table(report, run.class_names());
  if (!report.skipped.empty()) {
    std::cout << "\n" << report.skipped.size() << " unreadable file(s) skipped (listed in metrics.json)\n";
  }
  std::cout << "\nwritten: " << (out_dir / "metrics.json").string() << ", confusion_matrix.csv, predictions.csv\n";
  return kOk;
}

// Accuracy and recall per class from the predictions themselves, so members
// with other metric lists are compared on the same figures.
struct Figures {
  double accuracy = std::nan("");
  std::vector<double> recall;  // per class; NaN where the class has no image
};

Figures figures_of(const EvaluationReport& report, std::size_t classes) {
  const auto counts = confusion_counts(report.predictions, classes);
  Figures figures;
  std::size_t total = 0, correct = 0;
  for (std::size_t t = 0; t < classes; ++t) {
    std::size_t support = 0;
    for (std::size_t count : counts[t]) support += count;
    total += support;
    correct += counts[t][t];
    figures.recall.push_back(support ? static_cast<double>(counts[t][t]) / static_cast<double>(support) : std::nan(""));
  }
  if (total) figures.accuracy = static_cast<double>(correct) / static_cast<double>(total);
  return figures;
}

json number_or_null(double value) { return std::isnan(value) ? json(nullptr) : json(value); }

json member_json(const EvaluationReport& report, const Figures& figures, const std::vector<std::string>& classes) {
  json recall = json::object();
  for (std::size_t c = 0; c < classes.size(); ++c) recall[classes[c]] = number_or_null(figures.recall[c]);
  return {{"images", report.images}, {"loss", report.loss}, {"accuracy", number_or_null(figures.accuracy)},
          {"per_class_recall", recall}, {"metrics", report.metrics}, {"skipped", skipped_json(report)}};
}

int evaluate_several(const std::vector<std::unique_ptr<TrainedRun>>& runs, const EvalOptions& options) {
  std::vector<TrainedRun*> members;
  for (const auto& run : runs) members.push_back(run.get());
  const EnsembleReport report = evaluate_ensemble(members, options.split, options.data);
  const TrainedRun& first = *runs[0];
  const auto& classes = first.class_names();
  const Figures ensemble = figures_of(report.ensemble, classes.size());
  std::vector<Figures> alone;
  for (const auto& member : report.members) alone.push_back(figures_of(member, classes.size()));

  if (options.json) {
    json out;
    out["runs"] = json::array();
    for (const auto& run : runs) out["runs"].push_back(run->run_dir());
    if (options.data.empty()) out["split"] = options.split; else out["data"] = options.data;
    out["classes"] = classes;
    out["ensemble"] = member_json(report.ensemble, ensemble, classes);
    out["members"] = json::array();
    for (std::size_t k = 0; k < runs.size(); ++k) {
      json member = member_json(report.members[k], alone[k], classes);
      member["run"] = runs[k]->run_dir();
      member["tta"] = runs[k]->tta();
      out["members"].push_back(member);
    }
    std::cout << out.dump(2) << "\n";
    return kOk;
  }
  std::cout << fmt::format("ensemble of {} runs — {}: {} images, loss {:.4f} ({})\n\n", runs.size(),
                           options.data.empty() ? options.split + " split of " + first.run_dir() : options.data,
                           report.ensemble.images, report.ensemble.loss, first.device());
  Table table({"#", "run", "tta", "images", "loss", "accuracy"});
  for (std::size_t k = 0; k < runs.size(); ++k) {
    table.add({std::to_string(k + 1), runs[k]->run_dir(), describe_tta(runs[k]->tta()),
               std::to_string(report.members[k].images), format_number(report.members[k].loss),
               format_number(alone[k].accuracy)});
  }
  table.add({"", "ensemble (mean probability)", "", std::to_string(report.ensemble.images),
             format_number(report.ensemble.loss), format_number(ensemble.accuracy)});
  std::cout << table.render() << "\n";

  std::vector<std::string> header{"recall", "ensemble"};
  for (std::size_t k = 0; k < runs.size(); ++k) header.push_back("#" + std::to_string(k + 1));
  Table recall(header);
  for (std::size_t c = 0; c < classes.size(); ++c) {
    std::vector<std::string> row{classes[c], format_number(ensemble.recall[c])};
    for (const auto& member : alone) row.push_back(format_number(member.recall[c]));
    recall.add(row);
  }
  std::cout << recall.render() << "\nensemble:\n" << metrics_table(report.ensemble, first) << "\n"
            << confusion_table(report.ensemble, classes);
  if (!report.ensemble.skipped.empty()) {
    std::cout << "\n" << report.ensemble.skipped.size() << " file(s) left out (unreadable for a run; see --json)\n";
  }
  return kOk;
}

}  // namespace

int command_eval(const CommonOptions& common, const std::vector<std::string>& run_dirs, const EvalOptions& options) {
  int exit_code = kOk;
  auto host = open_host(common, false, exit_code);
  if (!host) return exit_code;
  std::vector<std::unique_ptr<TrainedRun>> runs;
  std::string current;  // the run a failure concerns
  try {
    for (const auto& run_dir : run_dirs) {
      current = run_dir;
      runs.push_back(std::make_unique<TrainedRun>(run_dir, host->registry(), OpenRunOptions{options.device, options.tta}));
    }
    current = run_dirs[0];
    if (runs.size() == 1) return evaluate_one(*runs[0], run_dirs[0], options);
    return evaluate_several(runs, options);
  } catch (const std::exception&) {
    return run_failure("eval", current);
  }
}

}  // namespace cerebra::cli
