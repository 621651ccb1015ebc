#include "cerebra/run_directory.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "cerebra/files.h"

namespace cerebra {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string timestamp() {
  std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y%m%d-%H%M%S", &local);
  return buffer;
}

std::string join_path(const std::string& folder, const std::string& name) {
  return (fs::path(folder) / name).string();
}

json parse_json(const std::string& path, const std::string& text) {
  try {
    return json::parse(text);
  } catch (const json::exception& error) {
    throw Error(path + ": not valid JSON (" + error.what() + ")");
  }
}

std::string class_name(int index, const std::vector<std::string>& class_names) {
  return index >= 0 && static_cast<std::size_t>(index) < class_names.size()
             ? class_names[static_cast<std::size_t>(index)]
             : std::string();
}

}  // namespace

RunDirectory RunDirectory::create(const Pipeline& pipeline) {
  const Parameters& run = pipeline.section("run");
  std::string name = run.get_string("name");
  if (name.empty()) name = fs::path(pipeline.source_file).stem().string();
  if (name.empty()) name = "run";
  fs::path base = fs::path(run.get_string("output")) / (name + "-" + timestamp());
  fs::path dir = base;
  for (int suffix = 2; fs::exists(dir); ++suffix) dir = base.string() + "-" + std::to_string(suffix);
  std::error_code error;
  fs::create_directories(dir / "checkpoints", error);
  if (error) throw Error(dir.string() + ": cannot create the run directory: " + error.message());
  return RunDirectory(dir.string());
}

RunDirectory RunDirectory::open(const std::string& path) {
  std::error_code error;
  if (!fs::is_directory(path, error)) {
    throw Error(path + (fs::exists(path, error) ? ": not a folder" : ": no such run directory"));
  }
  RunDirectory run(path);
  if (!fs::exists(run.pipeline_file(), error)) throw Error(path + ": not a run directory (no pipeline.toml)");
  return run;
}

RunLock& RunLock::operator=(RunLock&& other) noexcept {
  std::swap(descriptor_, other.descriptor_);
  return *this;
}

RunLock::~RunLock() {
  if (descriptor_ >= 0) ::close(descriptor_);  // closing releases the flock
}

RunLock RunDirectory::lock() const {
  const std::string file = join_path(path_, ".lock");
  int descriptor = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (descriptor < 0) throw Error(file + ": cannot open the run's lock file: " + std::strerror(errno));
  if (::flock(descriptor, LOCK_EX | LOCK_NB) != 0) {
    const int saved_errno = errno;
    char buffer[32] = {};
    const auto got = ::pread(descriptor, buffer, sizeof buffer - 1, 0);
    ::close(descriptor);
    if (saved_errno != EWOULDBLOCK) throw Error(file + ": cannot lock the run: " + std::strerror(saved_errno));
    std::string holder = got > 0 ? std::string(buffer, static_cast<std::size_t>(got)) : std::string("?");
    holder.erase(holder.find_last_not_of(" \n") + 1);
    throw Error(path_ + ": in use by another cerebra process (pid " + holder +
                "); wait for it to finish or stop it, then try again");
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(descriptor, 0) != 0 || ::pwrite(descriptor, pid.data(), pid.size(), 0) < 0) {
    // The lock holds without the pid; only the message to a second process is poorer.
  }
  return RunLock(descriptor);
}

std::string RunDirectory::pipeline_file() const { return join_path(path_, "pipeline.toml"); }
std::string RunDirectory::split_file() const { return join_path(path_, "split.csv"); }
std::string RunDirectory::metrics_file() const { return join_path(path_, "metrics.jsonl"); }
std::string RunDirectory::checkpoint_file(const std::string& name) const {
  return (fs::path(path_) / "checkpoints" / (name + ".pt")).string();
}
std::string RunDirectory::summary_file() const { return join_path(path_, "summary.json"); }
std::string RunDirectory::weights_file() const { return join_path(path_, "weights.txt"); }
std::string RunDirectory::skipped_file() const { return join_path(path_, "skipped.csv"); }
std::string RunDirectory::test_predictions_file() const { return join_path(eval_folder(), "predictions_test.csv"); }
std::string RunDirectory::report_file() const { return join_path(path_, "report.html"); }
std::string RunDirectory::eval_folder(const std::string& name) const {
  fs::path folder = fs::path(path_) / "eval";
  return (name.empty() ? folder : folder / name).string();
}

void RunDirectory::remove_temporaries() const {
  std::error_code error;
  std::vector<fs::path> stale;
  for (fs::recursive_directory_iterator it(path_, error), end; !error && it != end; it.increment(error)) {
    const fs::path& file = it->path();
    // write_file_atomically's temporaries: the target's name, ".PID", ".tmp".
    const std::string pid = file.stem().extension().string();
    if (file.extension() == ".tmp" && pid.size() > 1 && pid.find_first_not_of("0123456789", 1) == std::string::npos) {
      stale.push_back(file);
    }
  }
  for (const auto& file : stale) fs::remove(file, error);
}

void RunDirectory::write_pipeline(const Pipeline& pipeline) const {
  write_file_atomically(pipeline_file(), pipeline.to_toml());
}

void RunDirectory::write_split(const SplitResult& split, const std::vector<std::string>& class_names) const {
  write_split_manifest(split_file(), split, class_names);
}

void write_split_manifest(const std::string& path, const SplitResult& split,
                          const std::vector<std::string>& class_names) {
  std::error_code error;
  if (fs::path(path).has_parent_path()) fs::create_directories(fs::path(path).parent_path(), error);
  // A source-held-out split adds each file's source cluster.
  const bool sources = !split.source_of.empty();
  std::vector<std::string> header{"file", "class", "split", "group"};
  if (sources) header.push_back("source");
  std::string text = csv_record(header);
  auto rows = [&](const std::vector<Sample>& samples, const char* name) {
    for (const auto& sample : samples) {
      std::string label = class_name(sample.label, class_names);
      // A coarse label ([extra_training]) is written as its classes: "a|b".
      const auto set = static_cast<std::size_t>(std::max(sample.label, 0));
      if (set >= class_names.size() && set - class_names.size() < split.label_sets.size()) {
        for (int c : split.label_sets[set - class_names.size()]) {
          label += (label.empty() ? "" : "|") + class_name(c, class_names);
        }
      }
      auto group = split.group_of.find(sample.id);
      std::vector<std::string> record{sample.id, label.empty() ? std::to_string(sample.label) : label, name,
                                      group == split.group_of.end() ? "" : std::to_string(group->second)};
      if (sources) {
        auto source = split.source_of.find(sample.id);
        record.push_back(source == split.source_of.end() ? "" : std::to_string(source->second));
      }
      text += csv_record(record);
    }
  };
  rows(split.train, "train");
  rows(split.val, "val");
  rows(split.test, "test");
  write_file_atomically(path, text);
}

std::vector<SplitRow> RunDirectory::read_split() const {
  const std::string file = split_file();
  auto records = parse_csv(read_file(file));
  // A fourth column, `group`, names each file's duplicate group where the split records it;
  // a fifth, `source`, its source cluster after a source-held-out split.
  const std::vector<std::string> plain{"file", "class", "split"}, grouped{"file", "class", "split", "group"},
      sourced{"file", "class", "split", "group", "source"};
  if (records.empty() || (records[0] != plain && records[0] != grouped && records[0] != sourced)) {
    throw Error(file + ": expected the header file,class,split (or file,class,split,group, or "
                       "file,class,split,group,source)");
  }
  const std::size_t fields = records[0].size();
  std::vector<SplitRow> rows;
  for (std::size_t i = 1; i < records.size(); ++i) {
    if (records[i].size() != fields) {
      throw Error(fmt::format("{}: record {}: expected {} fields, found {}", file, i + 1, fields, records[i].size()));
    }
    rows.push_back({records[i][0], records[i][1], records[i][2], fields >= 4 ? records[i][3] : std::string(),
                    fields == 5 ? records[i][4] : std::string()});
  }
  return rows;
}

void RunDirectory::append_metrics(const json& epoch_line) const {
  append_line_durably(metrics_file(), epoch_line.dump());
}

void RunDirectory::reconcile_metrics(int epochs, const json& last_line) const {
  std::error_code error;
  std::vector<json> lines = fs::exists(metrics_file(), error) ? read_metrics() : std::vector<json>{};
  std::string kept;
  bool changed = false;
  int last = 0;
  for (const json& line : lines) {
    const int epoch = line.value("epoch", 0);
    if (epoch <= epochs) {
      kept += line.dump() + "\n";
      last = epoch;
    } else {
      changed = true;
    }
  }
  if (last < epochs && last_line.is_object() && last_line.value("epoch", 0) == epochs) {
    kept += last_line.dump() + "\n";
    changed = true;
  }
  if (changed) write_file_atomically(metrics_file(), kept);
}

std::vector<json> RunDirectory::read_metrics() const {
  std::vector<json> lines;
  std::ifstream in(metrics_file());
  int number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    if (!line.empty()) lines.push_back(parse_json(fmt::format("{}:{}", metrics_file(), number), line));
  }
  return lines;
}

void RunDirectory::write_summary(const json& summary) const {
  write_file_atomically(summary_file(), summary.dump(2) + "\n");
}

bool RunDirectory::has_summary() const {
  std::error_code error;
  return fs::exists(summary_file(), error);
}

RunSummary RunDirectory::read_summary() const {
  const std::string file = summary_file();
  if (!has_summary()) throw Error(file + ": no summary (not a run directory, or the run has not finished)");
  RunSummary summary;
  summary.raw = parse_json(file, read_file(file));
  const json& raw = summary.raw;
  if (!raw.is_object()) throw Error(file + ": not a JSON object");
  if (!raw.contains("classes") || !raw["classes"].is_array() || raw["classes"].size() < 2) {
    throw Error(file + ": no \"classes\" list of at least two names");
  }
  try {
    summary.classes = raw["classes"].get<std::vector<std::string>>();
    summary.status = raw.value("status", std::string());
    summary.message = raw.value("message", std::string());
    summary.dataset = raw.value("dataset", std::string("?"));
    summary.model = raw.value("model", std::string("?"));
    summary.weights = raw.value("weights", std::string());
    summary.transfer_mode = raw.value("transfer_mode", std::string());
    summary.epochs_completed = raw.value("epochs_completed", 0);
    summary.best_epoch = raw.value("best_epoch", 0);
  } catch (const json::exception& error) {
    throw Error(file + ": unexpected value (" + error.what() + ")");
  }
  if (raw.contains("positive_class") && raw["positive_class"].is_string()) {
    auto it = std::find(summary.classes.begin(), summary.classes.end(), raw["positive_class"].get<std::string>());
    if (it != summary.classes.end()) summary.positive_class = static_cast<int>(it - summary.classes.begin());
  }
  if (raw.contains("test") && raw["test"].is_object() && raw["test"].contains("metrics")) {
    summary.test_metrics = raw["test"]["metrics"];
  }
  return summary;
}

void RunDirectory::write_weights_report(const std::string& text) const { write_file_atomically(weights_file(), text); }

bool RunDirectory::loaded_weights() const {
  std::error_code error;
  return fs::exists(weights_file(), error);
}

void RunDirectory::write_skipped(const std::vector<SkippedFile>& skipped) const {
  std::string text = csv_record({"file", "reason"});
  for (const auto& s : skipped) text += csv_record({s.id, s.reason});
  write_file_atomically(skipped_file(), text);
}

std::vector<SkippedFile> RunDirectory::read_skipped() const {
  const std::string file = skipped_file();
  std::error_code error;
  if (!fs::exists(file, error)) return {};
  auto records = parse_csv(read_file(file));
  if (records.empty() || records[0] != std::vector<std::string>{"file", "reason"}) {
    throw Error(file + ": expected the header file,reason");
  }
  std::vector<SkippedFile> skipped;
  for (std::size_t i = 1; i < records.size(); ++i) {
    if (records[i].size() != 2) {
      throw Error(fmt::format("{}: record {}: expected 2 fields, found {}", file, i + 1, records[i].size()));
    }
    skipped.push_back({records[i][0], records[i][1]});
  }
  return skipped;
}

bool RunDirectory::has_test_predictions() const {
  std::error_code error;
  return fs::exists(test_predictions_file(), error);
}

namespace {

int class_index(const std::string& name, const std::vector<std::string>& class_names) {
  auto it = std::find(class_names.begin(), class_names.end(), name);
  return it == class_names.end() ? -1 : static_cast<int>(it - class_names.begin());
}

// One record of a predictions CSV: file, true class, predicted class, p_<class>...
Prediction parse_prediction(const std::vector<std::string>& record, const std::vector<std::string>& class_names,
                            const std::string& where) {
  Prediction p;
  p.file = record[0];
  p.label = class_index(record[1], class_names);
  p.predicted = class_index(record[2], class_names);
  if ((!record[1].empty() && p.label < 0) || p.predicted < 0) {
    throw Error(where + ": a class that is not one of the run's (" + record[1] + ", " + record[2] + ")");
  }
  for (std::size_t c = 0; c < class_names.size(); ++c) {
    const std::string& text = record[3 + c];
    char* end = nullptr;
    const double value = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0') throw Error(where + ": '" + text + "' is not a probability");
    p.probabilities.push_back(static_cast<float>(value));
  }
  return p;
}

}  // namespace

std::vector<Prediction> RunDirectory::read_test_predictions(const std::vector<std::string>& class_names) const {
  const std::string file = test_predictions_file();
  auto records = parse_csv(read_file(file));
  std::vector<std::string> header{"file", "true_class", "predicted_class"};
  for (const auto& name : class_names) header.push_back("p_" + name);
  if (records.empty() || records[0] != header) {
    throw Error(file + ": expected the header " + csv_record(header).substr(0, csv_record(header).size() - 1));
  }
  std::vector<Prediction> predictions;
  for (std::size_t i = 1; i < records.size(); ++i) {
    const std::string where = fmt::format("{}: record {}", file, i + 1);
    if (records[i].size() != header.size()) {
      throw Error(fmt::format("{}: expected {} fields, found {}", where, header.size(), records[i].size()));
    }
    predictions.push_back(parse_prediction(records[i], class_names, where));
  }
  return predictions;
}

void RunDirectory::write_report(const std::string& html) const { write_file_atomically(report_file(), html); }

void RunDirectory::write_test_predictions(const std::vector<Prediction>& predictions,
                                          const std::vector<std::string>& class_names) const {
  std::error_code error;
  fs::create_directories(eval_folder(), error);
  if (error) throw Error(eval_folder() + ": cannot create: " + error.message());
  write_file_atomically(test_predictions_file(), predictions_csv(predictions, class_names));
}

std::string RunDirectory::write_evaluation(const std::string& name, const json& metrics,
                                           const std::vector<Prediction>& predictions,
                                           const std::vector<std::string>& class_names) const {
  const std::string folder = eval_folder(name);
  std::error_code error;
  fs::create_directories(folder, error);
  if (error) throw Error(folder + ": cannot create: " + error.message());
  write_file_atomically(join_path(folder, "metrics.json"), metrics.dump(2) + "\n");
  write_file_atomically(join_path(folder, "confusion_matrix.csv"), confusion_matrix_csv(predictions, class_names));
  write_file_atomically(join_path(folder, "predictions.csv"), predictions_csv(predictions, class_names));
  return folder;
}

std::string weights_origin(const RunDirectory& run, const RunSummary& summary) {
  // weights.txt is written only when a weights file was actually loaded: with
  // allow_scratch a missing file trains from scratch although [transfer] weights is set.
  if (summary.weights.empty()) return "no";
  if (!run.loaded_weights()) return "no (weights missing)";
  // A run directory or its checkpoint continues that run's training.
  const std::string extension = fs::path(summary.weights).extension().string();
  if (extension.empty() || extension == ".pt") return "from run " + summary.weights;
  return "yes (" + summary.transfer_mode + ")";
}

std::string predictions_csv(const std::vector<Prediction>& predictions, const std::vector<std::string>& class_names) {
  std::vector<std::string> header{"file", "true_class", "predicted_class"};
  for (const auto& name : class_names) header.push_back("p_" + name);
  std::string out = csv_record(header);
  for (const auto& p : predictions) {
    std::vector<std::string> row{p.file, class_name(p.label, class_names), class_name(p.predicted, class_names)};
    for (float probability : p.probabilities) row.push_back(fmt::format("{:.6f}", probability));
    out += csv_record(row);
  }
  return out;
}

std::string confusion_matrix_csv(const std::vector<Prediction>& predictions, const std::vector<std::string>& class_names) {
  const auto counts = confusion_counts(predictions, class_names.size());
  std::vector<std::string> header{"true\\predicted"};
  header.insert(header.end(), class_names.begin(), class_names.end());
  std::string out = csv_record(header);
  for (std::size_t t = 0; t < counts.size(); ++t) {
    std::vector<std::string> row{class_names[t]};
    for (std::size_t count : counts[t]) row.push_back(std::to_string(count));
    out += csv_record(row);
  }
  return out;
}

}  // namespace cerebra
