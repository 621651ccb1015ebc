// Reading runs back: list with --where terms, find one by folder, name or id,
// and tags.
#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "cerebra/error.h"
#include "cerebra/run_store.h"
#include "sqlite.h"
#include "store_internal.h"

namespace cerebra {

namespace fs = std::filesystem;
using nlohmann::json;
using store::Statement;
using store::Transaction;

namespace {

const char* kRunColumns =
    "SELECT id, path, name, status, message, COALESCE(dataset, ''), COALESCE(model, ''), "
    "COALESCE(code_version, ''), started_at, updated_at, epochs_completed, best_epoch FROM runs";

StoredRun run_from_row(const Statement& row) {
  StoredRun run;
  run.id = row.integer(0);
  run.path = row.text(1);
  run.name = row.text(2);
  run.status = row.text(3);
  run.message = row.text(4);
  run.dataset = row.text(5);
  run.model = row.text(6);
  run.code_version = row.text(7);
  run.started_at = row.text(8);
  run.updated_at = row.text(9);
  run.epochs_completed = static_cast<int>(row.integer(10));
  run.best_epoch = static_cast<int>(row.integer(11));
  return run;
}

// The SQL of one operator; the only text of a --where that reaches SQL, and it
// comes from this table, not from the user.
const char* sql_operator(const std::string& op) {
  static const std::pair<const char*, const char*> operators[] = {
      {"=", "="}, {"!=", "!="}, {"<", "<"}, {"<=", "<="}, {">", ">"}, {">=", ">="}};
  for (const auto& [name, sql] : operators) {
    if (op == name) return sql;
  }
  throw Error("--where: unknown operator '" + op + "'");
}

void load_details(sqlite3* db, const std::string& file, StoredRun& run, bool with_epochs) {
  Statement params(db, file, "SELECT key, value FROM params WHERE run_id = ?1 ORDER BY key");
  params.bind(1, run.id);
  while (params.step()) run.parameters[params.text(0)] = params.value(1);
  Statement metrics(db, file, "SELECT key, value FROM metrics WHERE run_id = ?1 ORDER BY key");
  metrics.bind(1, run.id);
  while (metrics.step()) run.metrics[metrics.text(0)] = metrics.real(1);
  Statement tags(db, file, "SELECT tag FROM tags WHERE run_id = ?1 ORDER BY tag");
  tags.bind(1, run.id);
  while (tags.step()) run.tags.push_back(tags.text(0));
  if (!with_epochs) return;
  Statement epochs(db, file, "SELECT epoch, key, value FROM epoch_metrics WHERE run_id = ?1 ORDER BY epoch, key");
  epochs.bind(1, run.id);
  while (epochs.step()) {
    const auto epoch = epochs.integer(0);
    if (run.epochs.empty() || run.epochs.back()["epoch"] != epoch) run.epochs.push_back({{"epoch", epoch}});
    run.epochs.back()[epochs.text(1)] = epochs.value(2);
  }
}

}  // namespace

std::vector<StoredRun> RunStore::list(const std::vector<WhereTerm>& where) const {
  std::string sql = std::string(kRunColumns) + " WHERE 1";
  int parameter = 0;
  for (const auto& term : where) {
    // `tag != x`: runs without that tag (a run has many tags, so "some tag other than x" would say little).
    const bool without_tag = term.key == "tag" && term.op == "!=";
    // A number compares with numbers only, text with text: SQLite would rank all text above every number.
    const char* same_type = term.value.is_number() ? "typeof(v.value) IN ('integer', 'real')" : "typeof(v.value) = 'text'";
    sql += fmt::format(
        " AND {}EXISTS (SELECT 1 FROM run_values v WHERE v.run_id = runs.id AND v.key = ?{} AND {} AND v.value {} ?{})",
        without_tag ? "NOT " : "", parameter + 1, same_type, without_tag ? "=" : sql_operator(term.op), parameter + 2);
    parameter += 2;
  }
  sql += " ORDER BY started_at, id";
  Statement query(db_, path_, sql.c_str());
  parameter = 0;
  for (const auto& term : where) {
    query.bind(++parameter, term.key);
    query.bind_json(++parameter, term.value);
  }
  std::vector<StoredRun> runs;
  while (query.step()) runs.push_back(run_from_row(query));
  for (auto& run : runs) load_details(db_, path_, run, false);
  return runs;
}

std::int64_t RunStore::run_id(const std::string& reference) const {
  // A folder on disk, by its absolute path.
  std::error_code error;
  if (fs::is_directory(reference, error)) {
    Statement query(db_, path_, "SELECT id FROM runs WHERE path = ?1");
    query.bind(1, store::absolute_run_path(reference));
    if (query.step()) return query.integer(0);
    throw Error(reference + ": this run directory is not in the store " + path_ +
                " (index it: cerebra runs index " + reference + ")");
  }
  // An id.
  if (!reference.empty() && reference.find_first_not_of("0123456789") == std::string::npos) {
    Statement query(db_, path_, "SELECT id FROM runs WHERE id = ?1");
    query.bind(1, static_cast<std::int64_t>(std::stoll(reference)));
    if (query.step()) return query.integer(0);
  }
  // A name (the folder's), or a path whose folder is gone.
  Statement query(db_, path_, "SELECT id, path FROM runs WHERE name = ?1 OR path = ?2");
  query.bind(1, fs::path(reference).filename().string()).bind(2, store::absolute_run_path(reference));
  std::vector<std::pair<std::int64_t, std::string>> matches;
  while (query.step()) matches.emplace_back(query.integer(0), query.text(1));
  if (matches.size() == 1) return matches[0].first;
  if (matches.size() > 1) {
    std::string paths;
    for (const auto& [id, path] : matches) paths += fmt::format("\n  {} (id {})", path, id);
    throw Error("'" + reference + "' names several runs in " + path_ + "; give the folder or the id:" + paths);
  }
  // Nothing: suggest names that contain what was given.
  Statement similar(db_, path_, "SELECT name FROM runs WHERE instr(name, ?1) > 0 ORDER BY name LIMIT 5");
  similar.bind(1, fs::path(reference).filename().string());
  std::string names;
  while (similar.step()) names += (names.empty() ? "" : ", ") + similar.text(0);
  throw Error("'" + reference + "': no run with this folder, name or id in " + path_ +
              (names.empty() ? " (cerebra runs list shows them)" : "; similar names: " + names));
}

StoredRun RunStore::find(const std::string& reference, bool with_epochs) const {
  const std::int64_t id = run_id(reference);
  Statement query(db_, path_, (std::string(kRunColumns) + " WHERE id = ?1").c_str());
  query.bind(1, id);
  if (!query.step()) throw Error(path_ + ": run " + std::to_string(id) + " vanished while reading it");
  StoredRun run = run_from_row(query);
  load_details(db_, path_, run, with_epochs);
  return run;
}

void RunStore::tag(const std::string& reference, const std::vector<std::string>& tags) {
  const std::int64_t id = run_id(reference);
  Transaction transaction(db_, path_);
  Statement insert(db_, path_, "INSERT OR IGNORE INTO tags (run_id, tag) VALUES (?1, ?2)");
  for (const auto& tag : tags) {
    if (tag.empty()) throw Error("an empty tag");
    insert.reset();
    insert.bind(1, id).bind(2, tag).run();
  }
  transaction.commit();
}

void RunStore::untag(const std::string& reference, const std::vector<std::string>& tags) {
  const std::int64_t id = run_id(reference);
  Transaction transaction(db_, path_);
  Statement remove(db_, path_, "DELETE FROM tags WHERE run_id = ?1 AND tag = ?2");
  for (const auto& tag : tags) {
    remove.reset();
    remove.bind(1, id).bind(2, tag).run();
  }
  transaction.commit();
}

}  // namespace cerebra
