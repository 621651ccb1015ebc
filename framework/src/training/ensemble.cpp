// Ensembles of runs (evaluate.h): every run predicts the same images with its
// own preprocessing and test-time augmentation, and the softmax probabilities
// are averaged image by image.
#include <algorithm>
#include <cmath>
#include <iterator>
#include <set>
#include <unordered_map>

#include <fmt/format.h>

#include "cerebra/run_directory.h"
#include "model_runtime.h"
#include "trained_run.h"

namespace cerebra {

namespace {

using Access = detail::TrainedRunAccess;

std::set<std::string> split_ids(TrainedRun& run, const std::string& split) {
  std::set<std::string> ids;
  for (const SplitRow& row : Access::of(run).directory->read_split()) {
    if (row.split == split) ids.insert(row.file);
  }
  return ids;
}

// How `theirs` differs from `ours`: counts and a first example either way.
std::string difference(const std::set<std::string>& theirs, const std::set<std::string>& ours,
                       const std::string& other_run) {
  std::vector<std::string> only_theirs, only_ours;
  std::set_difference(theirs.begin(), theirs.end(), ours.begin(), ours.end(), std::back_inserter(only_theirs));
  std::set_difference(ours.begin(), ours.end(), theirs.begin(), theirs.end(), std::back_inserter(only_ours));
  std::string text = fmt::format("{} images against {}", theirs.size(), ours.size());
  if (!only_theirs.empty()) text += fmt::format("; {} only in this run (e.g. {})", only_theirs.size(), only_theirs[0]);
  if (!only_ours.empty()) text += fmt::format("; {} only in {} (e.g. {})", only_ours.size(), other_run, only_ours[0]);
  return text;
}

// An ensemble averages class by class over images no member trained on:
// every run needs the first one's classes and, for a split, its images.
void check_members(const std::vector<TrainedRun*>& runs, const std::string& split, bool folder) {
  TrainedRun& first = *runs[0];
  const std::set<std::string> first_ids = folder ? std::set<std::string>{} : split_ids(first, split);
  for (std::size_t k = 1; k < runs.size(); ++k) {
    TrainedRun& run = *runs[k];
    if (run.class_names() != first.class_names()) {
      throw Error(fmt::format("{}: its classes ({}) differ from those of {} ({}); an ensemble needs the same "
                              "classes in the same order",
                              run.run_dir(), join(run.class_names()), first.run_dir(), join(first.class_names())));
    }
    if (folder) continue;
    const std::set<std::string> ids = split_ids(run, split);
    if (ids != first_ids) {
      throw Error(fmt::format("{}: its {} split (split.csv) differs from that of {}: {}. Runs to ensemble must be "
                              "split alike; [split] seed holds the split while [run] seed varies",
                              run.run_dir(), split, first.run_dir(), difference(ids, first_ids, first.run_dir())));
    }
  }
}

// The members' probabilities averaged over the images every member predicted,
// scored with the first run's metrics.
EvaluationReport average(const std::vector<EvaluationReport>& members, const std::vector<TrainedRun*>& runs) {
  TrainedRun::Impl& first = Access::of(*runs[0]);
  const std::size_t classes = first.class_names.size();
  std::vector<std::unordered_map<std::string, const Prediction*>> by_file(members.size());
  for (std::size_t k = 0; k < members.size(); ++k) {
    for (const auto& p : members[k].predictions) by_file[k].emplace(p.file, &p);
  }
  EvaluationReport result;
  for (std::size_t k = 0; k < members.size(); ++k) {
    for (const auto& [file, reason] : members[k].skipped) {
      result.skipped.emplace_back(file, runs[k]->run_dir() + ": " + reason);
    }
  }
  detail::MetricSet metrics(first.registry, first.settings(true), true);
  double loss_sum = 0;
  std::size_t labelled = 0;
  for (const auto& lead : members[0].predictions) {
    std::vector<float> row(classes, 0.0f);
    bool everywhere = true;
    for (std::size_t k = 0; k < members.size() && everywhere; ++k) {
      auto it = by_file[k].find(lead.file);
      everywhere = it != by_file[k].end();
      for (std::size_t c = 0; everywhere && c < classes; ++c) row[c] += it->second->probabilities[c];
    }
    if (!everywhere) continue;  // skipped by a member, listed above
    for (float& p : row) p /= static_cast<float>(members.size());
    const std::int64_t label = lead.label;
    metrics.update(row.data(), &label, 1);
    if (label >= 0) {
      loss_sum -= std::log(std::max(static_cast<double>(row[static_cast<std::size_t>(label)]), 1e-12));
      ++labelled;
    }
    result.predictions.push_back(detail::make_prediction(lead.file, lead.label, row.data(), classes));
  }
  result.images = result.predictions.size();
  result.loss = labelled ? loss_sum / static_cast<double>(labelled) : 0.0;
  result.metrics = metrics.compute();
  return result;
}

}  // namespace

EnsembleReport evaluate_ensemble(const std::vector<TrainedRun*>& runs, const std::string& split,
                                 const std::string& folder) {
  if (runs.empty()) throw Error("an ensemble needs at least one run");
  const bool from_folder = !folder.empty();
  check_members(runs, split, from_folder);
  TrainedRun::Impl& first = Access::of(*runs[0]);
  // The first run's images, read through its dataset, for every member.
  std::vector<Sample> samples = from_folder ? first.folder_samples(folder) : first.split_samples(split);
  std::shared_ptr<const Dataset> source =
      from_folder ? std::make_shared<detail::FileDataset>(first.class_names) : first.dataset;
  EnsembleReport report;
  for (TrainedRun* run : runs) report.members.push_back(Access::of(*run).evaluate(source, samples, true));
  report.ensemble = average(report.members, runs);
  return report;
}

}  // namespace cerebra
