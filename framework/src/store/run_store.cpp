// The run store's connection, schema and indexing (the registry is in
// model_registry.cpp, queries in run_queries.cpp). docs/experiments.md
// describes the schema for readers with the `sqlite3` client.
#include "cerebra/run_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>

#include <fmt/format.h>

#include "cerebra/error.h"
#include "cerebra/host.h"
#include "cerebra/run_directory.h"
#include "sqlite.h"
#include "store_internal.h"

namespace cerebra {

namespace fs = std::filesystem;
using nlohmann::json;
using store::Statement;
using store::Transaction;

namespace {

// Bumped when the schema changes; a store from a newer Cerebra is refused.
constexpr int kSchemaVersion = 1;

// run_values: every value a --where term can name. The unary + strips each
// column's affinity, so a bound number compares with stored numbers as a
// number (and never equals text) whichever table the value comes from.
const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS runs (
  id               INTEGER PRIMARY KEY,
  path             TEXT NOT NULL UNIQUE,
  name             TEXT NOT NULL,
  status           TEXT NOT NULL,
  message          TEXT NOT NULL DEFAULT '',
  dataset          TEXT,
  model            TEXT,
  epochs_completed INTEGER NOT NULL DEFAULT 0,
  best_epoch       INTEGER NOT NULL DEFAULT 0,
  code_version     TEXT,
  started_at       TEXT NOT NULL,
  updated_at       TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS params (
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  key    TEXT NOT NULL,
  value,
  PRIMARY KEY (run_id, key)
);
CREATE TABLE IF NOT EXISTS metrics (
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  key    TEXT NOT NULL,
  value  REAL,
  PRIMARY KEY (run_id, key)
);
CREATE TABLE IF NOT EXISTS epoch_metrics (
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  epoch  INTEGER NOT NULL,
  key    TEXT NOT NULL,
  value  REAL,
  PRIMARY KEY (run_id, epoch, key)
);
CREATE TABLE IF NOT EXISTS tags (
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  tag    TEXT NOT NULL,
  PRIMARY KEY (run_id, tag)
);
CREATE TABLE IF NOT EXISTS model_versions (
  name          TEXT NOT NULL,
  version       INTEGER NOT NULL,
  run_path      TEXT NOT NULL,
  stage         TEXT NOT NULL DEFAULT 'none',
  registered_at TEXT NOT NULL,
  registered_by TEXT NOT NULL,
  PRIMARY KEY (name, version)
);
CREATE TABLE IF NOT EXISTS stage_history (
  id         INTEGER PRIMARY KEY,
  name       TEXT NOT NULL,
  version    INTEGER NOT NULL,
  from_stage TEXT NOT NULL,
  to_stage   TEXT NOT NULL,
  changed_at TEXT NOT NULL,
  changed_by TEXT NOT NULL
);
CREATE VIEW IF NOT EXISTS run_values (run_id, key, value) AS
  SELECT run_id, key, +value FROM params
  UNION ALL SELECT run_id, key, +value FROM metrics
  UNION ALL SELECT run_id, 'tag', +tag FROM tags
  UNION ALL SELECT id, 'name', +name FROM runs
  UNION ALL SELECT id, 'path', +path FROM runs
  UNION ALL SELECT id, 'status', +status FROM runs
  UNION ALL SELECT id, 'epochs_completed', +epochs_completed FROM runs
  UNION ALL SELECT id, 'best_epoch', +best_epoch FROM runs
  UNION ALL SELECT id, 'code_version', +code_version FROM runs
  UNION ALL SELECT id, 'started_at', +started_at FROM runs;
)sql";

std::string absolute_path(const std::string& path) {
  std::error_code error;
  fs::path absolute = fs::weakly_canonical(fs::absolute(path), error);
  return error ? fs::absolute(path).lexically_normal().string() : absolute.string();
}

// A report's headline value: {"value": x, ...} or a plain number.
std::optional<double> headline_value(const json& report) {
  if (report.is_number()) return report.get<double>();
  if (report.is_object() && report.contains("value") && report["value"].is_number()) return report["value"].get<double>();
  return std::nullopt;
}

// summary.json's figures as `val.loss`, `test.accuracy`, ..., `seconds`.
std::map<std::string, double> summary_metrics(const json& summary) {
  std::map<std::string, double> metrics;
  for (const char* split : {"val", "test"}) {
    if (!summary.contains(split) || !summary[split].is_object()) continue;
    const json& part = summary[split];
    if (part.contains("loss") && part["loss"].is_number()) metrics[std::string(split) + ".loss"] = part["loss"].get<double>();
    if (!part.contains("metrics") || !part["metrics"].is_object()) continue;
    for (const auto& [name, report] : part["metrics"].items()) {
      if (auto value = headline_value(report)) metrics[std::string(split) + "." + name] = *value;
    }
  }
  for (const char* key : {"seconds", "best_value", "val_probe_accuracy"}) {
    if (summary.contains(key) && summary[key].is_number()) metrics[key] = summary[key].get<double>();
  }
  return metrics;
}

// Whether a process is training in the run now: it holds the run's lock
// (RunDirectory::lock). Asked with a shared lock on a read-only descriptor,
// so the folder is not touched.
bool being_trained(const RunDirectory& run) {
  const std::string file = (fs::path(run.path()) / ".lock").string();
  const int descriptor = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (descriptor < 0) return false;
  const bool held = ::flock(descriptor, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  ::close(descriptor);  // closing releases a lock we took
  return held;
}

}  // namespace

std::string default_store_path(const std::string& output_folder) {
  if (const char* path = std::getenv("CEREBRA_STORE"); path && *path) return path;
  return (fs::path(output_folder) / ".cerebra" / "store.db").string();
}

std::string store_path_for_run(const std::string& run_dir) {
  fs::path folder = fs::path(absolute_path(run_dir)).parent_path();
  // A fold or a sweep's trial lives one level down, in its experiment's folder:
  // it records itself beside the experiment, so `runs list` shows it with the other runs.
  std::error_code error;
  if (fs::exists(folder / "kfold.json", error) || fs::exists(folder / "sweep.json", error)) {
    folder = folder.parent_path();
  }
  return default_store_path(folder.string());
}

std::string code_version() {
#ifdef CEREBRA_SOURCE_TREE
  const std::string command = "git -C '" + std::string(CEREBRA_SOURCE_TREE) +
                              "' describe --always --dirty --tags 2>/dev/null";
  if (FILE* pipe = popen(command.c_str(), "r")) {
    char buffer[256] = {};
    std::string described;
    while (std::fgets(buffer, sizeof buffer, pipe)) described += buffer;
    const int status = pclose(pipe);
    while (!described.empty() && (described.back() == '\n' || described.back() == '\r')) described.pop_back();
    if (status == 0 && !described.empty()) return "git " + described;
  }
#endif
  return std::string("cerebra ") + version();
}

RunStore::RunStore(const std::string& path, bool create, int busy_timeout_ms) : path_(path) {
  std::error_code error;
  if (!create && !fs::exists(path, error)) {
    throw Error(path + ": no run store here (no run has recorded itself in it yet); give --store FILE or set "
                       "CEREBRA_STORE, or build one with `cerebra runs index DIR`");
  }
  if (fs::is_directory(path, error)) throw Error(path + ": a folder, not a run store file");
  if (create && fs::path(path).has_parent_path()) {
    fs::create_directories(fs::path(path).parent_path(), error);
    if (error) throw Error(path + ": cannot create the store's folder: " + error.message());
  }
  const int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_FULLMUTEX;
  const int code = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
  if (code != SQLITE_OK) {
    // The handle holds the message; fail() reads it before we close it.
    try {
      store::fail(db_, code, path_, "opening the store");
    } catch (...) {
      sqlite3_close(db_);
      db_ = nullptr;
      throw;
    }
  }
  try {
    sqlite3_busy_timeout(db_, busy_timeout_ms);
    ensure_schema();
  } catch (...) {
    sqlite3_close(db_);
    db_ = nullptr;
    throw;
  }
}

RunStore::~RunStore() {
  if (db_) sqlite3_close(db_);
}

void RunStore::ensure_schema() {
  // The first read tells a file that is not a database from one that is.
  int version = 0;
  {
    Statement query(db_, path_, "PRAGMA user_version");
    if (query.step()) version = static_cast<int>(query.integer(0));
  }
  if (version > kSchemaVersion) {
    throw Error(fmt::format("{}: a store of schema version {} (from a newer Cerebra); this one reads version {}",
                            path_, version, kSchemaVersion));
  }
  {
    // WAL lets readers go on while one process writes; switching takes a
    // moment's exclusive lock, which the busy timeout waits for.
    Statement journal(db_, path_, "PRAGMA journal_mode=WAL");
    journal.run();
  }
  store::execute(db_, path_, "PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL");
  if (version == kSchemaVersion) return;
  Transaction transaction(db_, path_);
  store::execute(db_, path_, kSchema);
  store::execute(db_, path_, fmt::format("PRAGMA user_version={}", kSchemaVersion).c_str());
  transaction.commit();
}

std::int64_t RunStore::upsert_run(const RunDirectory& run, const std::string& new_status) {
  const std::string path = absolute_path(run.path());
  Statement upsert(db_, path_,
                   "INSERT INTO runs (path, name, status, started_at, updated_at) "
                   "VALUES (?1, ?2, ?3, strftime('%Y-%m-%dT%H:%M:%SZ','now'), strftime('%Y-%m-%dT%H:%M:%SZ','now')) "
                   "ON CONFLICT(path) DO UPDATE SET updated_at = excluded.updated_at RETURNING id");
  upsert.bind(1, path).bind(2, fs::path(path).filename().string()).bind(3, new_status);
  if (!upsert.step()) throw Error(path_ + ": no row for " + path);
  return upsert.integer(0);
}

namespace store {

void replace_parameters(sqlite3* db, const std::string& file, std::int64_t id, const std::string& pipeline_toml) {
  const auto values = flatten_pipeline_file(pipeline_toml);
  Statement clear(db, file, "DELETE FROM params WHERE run_id = ?1");
  clear.bind(1, id).run();
  Statement insert(db, file, "INSERT INTO params (run_id, key, value) VALUES (?1, ?2, ?3)");
  for (const auto& [key, value] : values) {
    insert.reset();
    insert.bind(1, id).bind(2, key).bind_json(3, value).run();
  }
  Statement columns(db, file, "UPDATE runs SET dataset = ?2, model = ?3 WHERE id = ?1");
  auto text = [&](const char* key) { return values.count(key) && values.at(key).is_string() ? values.at(key).get<std::string>() : ""; };
  columns.bind(1, id).bind(2, text("dataset")).bind(3, text("model")).run();
}

void record_epoch_figures(sqlite3* db, const std::string& file, std::int64_t id, const json& figures) {
  const int epoch = figures.value("epoch", 0);
  Statement insert(db, file, "INSERT OR REPLACE INTO epoch_metrics (run_id, epoch, key, value) VALUES (?1, ?2, ?3, ?4)");
  for (const auto& [key, value] : figures.items()) {
    if (key == "epoch" || !value.is_number()) continue;
    insert.reset();
    insert.bind(1, id).bind(2, static_cast<std::int64_t>(epoch)).bind(3, key).bind_double(4, value.get<double>()).run();
  }
  Statement progress(db, file,
                     "UPDATE runs SET epochs_completed = MAX(epochs_completed, ?2), "
                     "updated_at = strftime('%Y-%m-%dT%H:%M:%SZ','now') WHERE id = ?1");
  progress.bind(1, id).bind(2, static_cast<std::int64_t>(epoch)).run();
}

void record_summary(sqlite3* db, const std::string& file, std::int64_t id, const json& summary) {
  Statement update(db, file,
                   "UPDATE runs SET status = ?2, message = ?3, epochs_completed = ?4, best_epoch = ?5, "
                   "dataset = COALESCE(NULLIF(?6, ''), dataset), model = COALESCE(NULLIF(?7, ''), model), "
                   "updated_at = strftime('%Y-%m-%dT%H:%M:%SZ','now') WHERE id = ?1");
  update.bind(1, id)
      .bind(2, summary.value("status", std::string("unknown")))
      .bind(3, summary.value("message", std::string()))
      .bind(4, static_cast<std::int64_t>(summary.value("epochs_completed", 0)))
      .bind(5, static_cast<std::int64_t>(summary.value("best_epoch", 0)))
      .bind(6, summary.value("dataset", std::string()))
      .bind(7, summary.value("model", std::string()))
      .run();
  Statement clear(db, file, "DELETE FROM metrics WHERE run_id = ?1");
  clear.bind(1, id).run();
  Statement insert(db, file, "INSERT INTO metrics (run_id, key, value) VALUES (?1, ?2, ?3)");
  for (const auto& [key, value] : summary_metrics(summary)) {
    insert.reset();
    insert.bind(1, id).bind(2, key).bind_double(3, value).run();
  }
}

}  // namespace store

void RunStore::record_start(const RunDirectory& run, const std::string& version) {
  // Read the folder before the transaction, so the write lock is held briefly.
  const std::vector<json> epochs = run.read_metrics();
  Transaction transaction(db_, path_);
  const std::int64_t id = upsert_run(run, "running");
  Statement start(db_, path_, "UPDATE runs SET status = 'running', message = '', code_version = ?2 WHERE id = ?1");
  start.bind(1, id).bind(2, version).run();
  store::replace_parameters(db_, path_, id, run.pipeline_file());
  // A resumed run: metrics.jsonl holds the epochs kept; later ones are gone.
  Statement clear(db_, path_, "DELETE FROM epoch_metrics WHERE run_id = ?1");
  clear.bind(1, id).run();
  for (const json& figures : epochs) store::record_epoch_figures(db_, path_, id, figures);
  transaction.commit();
}

void RunStore::record_epoch(const RunDirectory& run, const json& figures) {
  Transaction transaction(db_, path_);
  store::record_epoch_figures(db_, path_, upsert_run(run, "running"), figures);
  transaction.commit();
}

void RunStore::record_end(const RunDirectory& run, const json& summary) {
  Transaction transaction(db_, path_);
  store::record_summary(db_, path_, upsert_run(run, "running"), summary);
  transaction.commit();
}

void RunStore::index_run(const RunDirectory& run) {
  const std::vector<json> epochs = run.read_metrics();
  const json summary = run.has_summary() ? run.read_summary().raw : json();
  Transaction transaction(db_, path_);
  const std::int64_t id = upsert_run(run, "unfinished");
  store::replace_parameters(db_, path_, id, run.pipeline_file());
  Statement clear(db_, path_, "DELETE FROM epoch_metrics WHERE run_id = ?1");
  clear.bind(1, id).run();
  for (const json& figures : epochs) store::record_epoch_figures(db_, path_, id, figures);
  if (summary.is_object()) {
    store::record_summary(db_, path_, id, summary);
  } else {
    // No summary: a run still training, or one that died without writing it.
    Statement status(db_, path_, "UPDATE runs SET status = ?2 WHERE id = ?1");
    status.bind(1, id).bind(2, being_trained(run) ? "running" : "unfinished").run();
  }
  transaction.commit();
}

IndexResult RunStore::index_folder(const std::string& folder) {
  std::error_code error;
  if (!fs::is_directory(folder, error)) throw Error(folder + (fs::exists(folder, error) ? ": not a folder" : ": no such folder"));
  std::vector<std::string> found;
  if (fs::exists(fs::path(folder) / "pipeline.toml", error)) found.push_back(folder);
  for (fs::recursive_directory_iterator it(folder, error), end; !error && it != end; it.increment(error)) {
    const fs::path& entry = it->path();
    if (!it->is_directory(error)) continue;
    const std::string name = entry.filename().string();
    // Hidden folders (the store's own) and the insides of a run hold no runs.
    if (name.empty() || name[0] == '.' || name == "checkpoints" || name == "eval" || name == "explain") {
      it.disable_recursion_pending();
      continue;
    }
    if (fs::exists(entry / "pipeline.toml", error)) found.push_back(entry.string());
  }
  if (error) throw Error(folder + ": cannot walk the folder: " + error.message());
  std::sort(found.begin(), found.end());
  IndexResult result;
  for (const auto& path : found) {
    try {
      index_run(RunDirectory::open(path));
      result.indexed.push_back(absolute_path(path));
    } catch (const Error& problem) {
      result.problems.push_back(problem.what());
    }
  }
  return result;
}

std::vector<std::string> RunStore::collect_garbage() {
  std::vector<std::pair<std::int64_t, std::string>> runs;
  {
    Statement query(db_, path_, "SELECT id, path FROM runs ORDER BY id");
    while (query.step()) runs.emplace_back(query.integer(0), query.text(1));
  }
  std::vector<std::string> dropped;
  Transaction transaction(db_, path_);
  Statement drop(db_, path_, "DELETE FROM runs WHERE id = ?1");
  for (const auto& [id, path] : runs) {
    std::error_code error;
    if (fs::exists(fs::path(path) / "pipeline.toml", error)) continue;
    drop.reset();
    drop.bind(1, id).run();
    dropped.push_back(path);
  }
  transaction.commit();
  return dropped;
}

namespace store {

std::string absolute_run_path(const std::string& path) { return absolute_path(path); }

}  // namespace store

}  // namespace cerebra
