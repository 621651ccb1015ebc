// The run store: an SQLite index of run directories and the registry of
// trained models (docs/experiments.md describes the schema). The run
// directories stay the source of truth; the store can be rebuilt from them
// (`cerebra runs index`), except for tags and the registry, which live only
// here. Safe with several processes writing at once: WAL journal, a busy
// timeout, one short transaction per write. No torch, no SQLite in this header.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

struct sqlite3;

namespace cerebra {

class RunDirectory;

// Where the store lives: $CEREBRA_STORE when set, else
// `<output folder>/.cerebra/store.db` (hidden, so `runs/*` still names runs only).
std::string default_store_path(const std::string& output_folder = "runs");
// The store a run records itself in: $CEREBRA_STORE, else the one of the
// output folder that holds the run directory (for a fold or a sweep trial,
// the folder that holds its k-fold or sweep folder).
std::string store_path_for_run(const std::string& run_dir);

// `git describe` of the source tree this build came from, when git can tell;
// else "cerebra <version>".
std::string code_version();

// The pipeline file's values, one key per setting: `model=resnet50` (a
// section's component), `training.epochs=5`, `optimizer.learning_rate=0.001`,
// `preprocess.1=resize`, `preprocess.1.size=224` (lists numbered from 1).
// Numbers stay numbers so the store compares them as numbers.
std::map<std::string, nlohmann::json> flatten_pipeline_file(const std::string& pipeline_toml);

// One term of `runs list --where`: key, operator (= != < <= > >=) and value.
struct WhereTerm {
  std::string key, op;
  nlohmann::json value;  // a number when the text reads as one, else a string
};
// `key op value [and key op value]...`; values may be quoted ('..' or ".."). Error naming the term.
std::vector<WhereTerm> parse_where(const std::string& expression);

struct StoredRun {
  std::int64_t id = 0;
  std::string path, name, status, message, dataset, model, code_version, started_at, updated_at;
  int epochs_completed = 0, best_epoch = 0;
  std::map<std::string, nlohmann::json> parameters;  // flattened pipeline
  std::map<std::string, double> metrics;              // the summary's: test.accuracy, val.loss, ...
  std::vector<std::string> tags;
  std::vector<nlohmann::json> epochs;                 // metrics.jsonl lines (show only)
};

struct ModelVersion {
  std::string name;
  int version = 0;
  std::string run_path, stage, registered_at, registered_by;
};

struct StageChange {
  std::string name;
  int version = 0;
  std::string from_stage, to_stage, changed_at, changed_by;
};

struct IndexResult {
  std::vector<std::string> indexed;   // absolute paths of the runs indexed
  std::vector<std::string> problems;  // one message per run directory that could not be read
};

class RunStore {
 public:
  static constexpr int kDefaultBusyTimeoutMs = 15000;
  // Opens the store, creating the file (and its folder) when `create`; Error
  // naming the file when it is missing (without `create`), not an SQLite
  // database, corrupt, or locked past the busy timeout.
  explicit RunStore(const std::string& path, bool create = true, int busy_timeout_ms = kDefaultBusyTimeoutMs);
  ~RunStore();
  RunStore(const RunStore&) = delete;
  RunStore& operator=(const RunStore&) = delete;

  const std::string& path() const { return path_; }

  // Training's records (the `store` callback): the start (status running),
  // each finished epoch, and the end with summary.json's content.
  void record_start(const RunDirectory& run, const std::string& version);
  void record_epoch(const RunDirectory& run, const nlohmann::json& figures);
  void record_end(const RunDirectory& run, const nlohmann::json& summary);
  // (Re)indexes one run from what its folder holds; keeps its tags and code version.
  void index_run(const RunDirectory& run);
  // Every run directory under `folder` (the folder itself included); a run
  // that cannot be read is a problem, not a stop.
  IndexResult index_folder(const std::string& folder);
  // Drops the runs whose folder is gone (with their parameters, metrics and
  // tags; registered model versions stay); returns their paths.
  std::vector<std::string> collect_garbage();

  // Runs matching every term, oldest first.
  std::vector<StoredRun> list(const std::vector<WhereTerm>& where) const;
  // A run by its folder, its name (the folder's name) or its id; Error listing close names.
  StoredRun find(const std::string& reference, bool with_epochs = false) const;
  void tag(const std::string& reference, const std::vector<std::string>& tags);
  void untag(const std::string& reference, const std::vector<std::string>& tags);

  // The registry: a new version (1, 2, ...) of `name` pointing at the run.
  ModelVersion register_model(const std::string& run_reference, const std::string& name);
  // Moves a version to staging, production or archived (or none); returns the change.
  StageChange set_stage(const std::string& name, int version, const std::string& stage);
  std::vector<ModelVersion> models(const std::string& name = "") const;
  std::vector<StageChange> stage_history(const std::string& name) const;
  // "no model named 'x' in FILE; registered: a, b": the message for a name the registry lacks.
  std::string no_such_model(const std::string& name) const;
  // `models:/NAME/VERSION` or `models:/NAME/STAGE` (the newest version in it):
  // the run directory. Error listing the names, versions or stages that exist.
  std::string resolve_model(const std::string& reference) const;

 private:
  void ensure_schema();
  // The run's id; a run new to the store gets a row in `new_status`.
  std::int64_t upsert_run(const RunDirectory& run, const std::string& new_status);
  std::int64_t run_id(const std::string& reference) const;
  std::string path_;
  sqlite3* db_ = nullptr;
};

// The one place `predict`, `eval` and `explain` turn what they were given into
// a run directory: `models:/NAME/STAGE|VERSION` through the store at
// `store_path` (default_store_path() when empty); anything else as it is.
std::string resolve_run_reference(const std::string& reference, const std::string& store_path = "");

}  // namespace cerebra
