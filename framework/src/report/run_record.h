// Everything a report shows of one run, read once through RunDirectory. A part
// that cannot be read becomes a problem (file and cause) instead of ending the
// report, so a run with a damaged metrics.jsonl still shows its test results.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cerebra/run_directory.h"

namespace cerebra::report {

struct RunRecord {
  std::string path;
  std::string label;  // "CNN · quickstart-20261126-101500": model and folder name
  RunSummary summary;
  std::string weights;  // compare's "ImageNet weights" wording
  std::string pipeline_text;
  std::vector<nlohmann::json> metrics;  // metrics.jsonl, one object per epoch
  std::vector<SplitRow> split;
  std::vector<SkippedFile> skipped;
  std::vector<Prediction> predictions;  // the test split's, with probabilities; none without a test evaluation
  // Damage: per part ("pipeline", "metrics", "split", "skipped", "predictions"), why it is missing.
  std::vector<std::pair<std::string, std::string>> problems;

  // The problem recorded for a part, or "".
  std::string problem(const std::string& part) const;
};

// Error naming the folder or file when `dir` is not a run directory or its
// summary.json is missing or unreadable; every other part is optional.
RunRecord load_run(const std::string& dir);

// A label for each run that tells them apart (folder names when models repeat).
std::string run_label(const RunSummary& summary, const std::string& dir);

}  // namespace cerebra::report
