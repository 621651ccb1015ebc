#include "run_record.h"

#include <filesystem>

#include "cerebra/comparison.h"
#include "cerebra/error.h"
#include "cerebra/files.h"

namespace cerebra::report {

namespace fs = std::filesystem;

std::string RunRecord::problem(const std::string& part) const {
  for (const auto& [name, why] : problems) {
    if (name == part) return why;
  }
  return "";
}

std::string run_label(const RunSummary& summary, const std::string& dir) {
  std::string folder = fs::path(dir).lexically_normal().filename().string();
  if (folder.empty()) folder = fs::path(dir).lexically_normal().parent_path().filename().string();
  return display_model(summary.model) + " · " + folder;
}

namespace {

// Runs `read`, recording its Error as the part's problem.
template <class Read>
void read_part(RunRecord& record, const std::string& part, Read read) {
  try {
    read();
  } catch (const Error& error) {
    record.problems.emplace_back(part, error.what());
  }
}

}  // namespace

RunRecord load_run(const std::string& dir) {
  RunDirectory run = RunDirectory::open(dir);
  RunRecord record;
  record.path = dir;
  record.summary = run.read_summary();
  record.label = run_label(record.summary, dir);
  record.weights = weights_origin(run, record.summary);
  read_part(record, "pipeline", [&] { record.pipeline_text = read_file(run.pipeline_file()); });
  read_part(record, "metrics", [&] { record.metrics = run.read_metrics(); });
  read_part(record, "split", [&] { record.split = run.read_split(); });
  read_part(record, "skipped", [&] { record.skipped = run.read_skipped(); });
  // A run stopped before its test evaluation has no predictions; that is its
  // status, not damage, and the sections say so.
  if (run.has_test_predictions()) {
    read_part(record, "predictions", [&] { record.predictions = run.read_test_predictions(record.summary.classes); });
  }
  return record;
}

}  // namespace cerebra::report
