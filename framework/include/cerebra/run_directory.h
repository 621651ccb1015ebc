// The run directory: the one module that knows every file a run writes, their
// names and formats, and reads them back. The trainer, `eval`, `predict` and
// `compare` go through it; nothing else builds a path inside a run. No torch.
//
// Layout (docs/cli.md, "The run directory"):
//   pipeline.toml               the resolved pipeline, every default filled in
//   split.csv                   file,class,split,group[,source] for every image
//   metrics.jsonl               one JSON object per finished epoch
//   checkpoints/best.pt, last.pt  model, optimizer and training state
//   weights.txt                 what the starting weights loaded (only when a file was loaded)
//   skipped.csv                 file,reason for images skipped as unreadable
//   eval/predictions_test.csv   the test split, one row per image
//   eval/<name>/                `cerebra eval` output: metrics.json, confusion_matrix.csv, predictions.csv
//   summary.json                status, classes, split sizes, best epoch, val/test metrics
//   report.html                 the run's report (cerebra report; written when the run ends)
//   .lock                       held (flock) by the process training in the folder; holds its pid
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cerebra/data.h"
#include "cerebra/evaluate.h"
#include "cerebra/pipeline.h"

namespace cerebra {

// What summary.json says of a run, typed; `raw` holds the whole document.
struct RunSummary {
  std::string status, message, dataset, model, weights, transfer_mode;
  std::vector<std::string> classes;
  int positive_class = -1;  // index into classes, -1 for none
  int epochs_completed = 0;
  int best_epoch = 0;
  nlohmann::json test_metrics;  // metric name -> report; null without a test evaluation
  nlohmann::json raw;
};

// An advisory lock (flock) on a run directory, held while a process writes
// to it; released when destroyed or when the process dies.
class RunLock {
 public:
  RunLock() = default;
  explicit RunLock(int descriptor) : descriptor_(descriptor) {}
  RunLock(RunLock&& other) noexcept : descriptor_(other.descriptor_) { other.descriptor_ = -1; }
  RunLock& operator=(RunLock&& other) noexcept;
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;
  ~RunLock();

 private:
  int descriptor_ = -1;
};

struct SplitRow {
  std::string file, class_name, split;
  std::string group;  // the duplicate group, when split.csv has a `group` column; else ""
  std::string source;  // the source cluster, when split.csv has a `source` column; else ""
};

class RunDirectory {
 public:
  // A new folder `<[run] output>/<name>-<timestamp>[-N]` with checkpoints/ inside.
  static RunDirectory create(const Pipeline& pipeline);
  // An existing run directory: Error when the folder or its pipeline.toml is missing.
  static RunDirectory open(const std::string& path);

  const std::string& path() const { return path_; }
  // Takes the run's lock (.lock); Error naming the process that holds it.
  RunLock lock() const;
  // Removes the temporary files (NAME.PID.tmp) that a process killed while
  // writing left behind; call it holding the lock, when no one else writes.
  void remove_temporaries() const;
  std::string pipeline_file() const;
  std::string split_file() const;
  std::string metrics_file() const;
  std::string checkpoint_file(const std::string& name) const;
  std::string summary_file() const;
  std::string weights_file() const;
  std::string skipped_file() const;
  std::string test_predictions_file() const;
  std::string report_file() const;
  // eval/ itself for an empty name, else eval/<name>/.
  std::string eval_folder(const std::string& name = "") const;

  void write_pipeline(const Pipeline& pipeline) const;
  void write_split(const SplitResult& split, const std::vector<std::string>& class_names) const;
  std::vector<SplitRow> read_split() const;  // Error naming file and line for a malformed row
  void append_metrics(const nlohmann::json& epoch_line) const;
  // Makes metrics.jsonl hold exactly epochs 1..E for a run resumed from a
  // checkpoint of epoch E: lines after E go (so no epoch appears twice), and
  // line E, lost by a crash between the checkpoint and the metrics line, is
  // written from `last_line`, the figures the checkpoint kept.
  void reconcile_metrics(int epochs, const nlohmann::json& last_line) const;
  std::vector<nlohmann::json> read_metrics() const;
  void write_summary(const nlohmann::json& summary) const;
  bool has_summary() const;
  RunSummary read_summary() const;  // Error naming the file when missing or malformed
  void write_weights_report(const std::string& text) const;
  bool loaded_weights() const;  // whether a weights file was actually loaded (weights.txt)
  void write_skipped(const std::vector<SkippedFile>& skipped) const;
  // skipped.csv; empty when the run skipped nothing (no file). Error naming the file when malformed.
  std::vector<SkippedFile> read_skipped() const;
  void write_test_predictions(const std::vector<Prediction>& predictions,
                              const std::vector<std::string>& class_names) const;
  bool has_test_predictions() const;
  // eval/predictions_test.csv read back for the run's classes (probabilities in
  // class order). Error naming file and record for a row that does not fit.
  std::vector<Prediction> read_test_predictions(const std::vector<std::string>& class_names) const;
  void write_report(const std::string& html) const;
  // Writes eval/<name>/metrics.json, confusion_matrix.csv and predictions.csv; returns the folder.
  std::string write_evaluation(const std::string& name, const nlohmann::json& metrics,
                               const std::vector<Prediction>& predictions,
                               const std::vector<std::string>& class_names) const;

 private:
  explicit RunDirectory(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// Where a run's starting weights came from, as compare's "ImageNet weights"
// column says it: "no", "no (weights missing)", "from run X" or "yes (mode)".
std::string weights_origin(const RunDirectory& run, const RunSummary& summary);

// "file,true_class,predicted_class,p_<class>..." with probabilities to six decimals.
std::string predictions_csv(const std::vector<Prediction>& predictions,
                            const std::vector<std::string>& class_names);

// A header row of predicted classes, then one row of counts per true class.
std::string confusion_matrix_csv(const std::vector<Prediction>& predictions,
                                 const std::vector<std::string>& class_names);

}  // namespace cerebra
