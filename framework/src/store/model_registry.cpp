// The registry of trained models: named versions of runs, each in a stage,
// with the history of every stage change; and `models:/NAME/...` references.
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>

#include <fmt/format.h>

#include "cerebra/error.h"
#include "cerebra/run_directory.h"
#include "cerebra/run_store.h"
#include "sqlite.h"
#include "store_internal.h"

namespace cerebra {

namespace fs = std::filesystem;
using store::Statement;
using store::Transaction;

namespace {

constexpr const char* kReferencePrefix = "models:/";
const std::vector<std::string> kStages{"none", "staging", "production", "archived"};

bool is_stage(const std::string& word) { return std::find(kStages.begin(), kStages.end(), word) != kStages.end(); }

void check_model_name(const std::string& name) {
  const bool valid = !name.empty() && std::isalnum(static_cast<unsigned char>(name[0])) &&
                     name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
                         std::string::npos;
  if (!valid) {
    throw Error("'" + name + "' is not a model name: letters, digits, '.', '_' and '-', starting with a letter or digit");
  }
}

ModelVersion version_from_row(const Statement& row) {
  ModelVersion model;
  model.name = row.text(0);
  model.version = static_cast<int>(row.integer(1));
  model.run_path = row.text(2);
  model.stage = row.text(3);
  model.registered_at = row.text(4);
  model.registered_by = row.text(5);
  return model;
}

const char* kVersionColumns = "SELECT name, version, run_path, stage, registered_at, registered_by FROM model_versions";

// "1 (production), 2 (none)": what a missing version or stage could have been.
std::string describe_versions(const std::vector<ModelVersion>& versions) {
  std::string text;
  for (const auto& v : versions) text += fmt::format("{}{} ({})", text.empty() ? "" : ", ", v.version, v.stage);
  return text;
}

}  // namespace

namespace store {

std::string user_name() {
  if (const char* user = std::getenv("USER"); user && *user) return user;
  if (const passwd* entry = getpwuid(getuid()); entry && entry->pw_name) return entry->pw_name;
  return "unknown";
}

}  // namespace store

ModelVersion RunStore::register_model(const std::string& run_reference, const std::string& name) {
  check_model_name(name);
  // A run directory not yet in the store is indexed first.
  std::error_code error;
  if (fs::is_directory(run_reference, error)) {
    Statement known(db_, path_, "SELECT 1 FROM runs WHERE path = ?1");
    known.bind(1, store::absolute_run_path(run_reference));
    if (!known.step()) index_run(RunDirectory::open(run_reference));
  }
  const StoredRun run = find(run_reference);
  const RunDirectory directory = RunDirectory::open(run.path);
  if (!fs::exists(directory.checkpoint_file("best"), error)) {
    throw Error(run.path + ": no checkpoints/best.pt (a run registers once it has finished an epoch)");
  }
  Transaction transaction(db_, path_);
  Statement insert(db_, path_,
                   "INSERT INTO model_versions (name, version, run_path, stage, registered_at, registered_by) "
                   "SELECT ?1, COALESCE(MAX(version), 0) + 1, ?2, 'none', strftime('%Y-%m-%dT%H:%M:%SZ','now'), ?3 "
                   "FROM model_versions WHERE name = ?1 "
                   "RETURNING name, version, run_path, stage, registered_at, registered_by");
  insert.bind(1, name).bind(2, run.path).bind(3, store::user_name());
  if (!insert.step()) throw Error(path_ + ": registering '" + name + "' wrote nothing");
  ModelVersion model = version_from_row(insert);
  insert.run();
  transaction.commit();
  return model;
}

StageChange RunStore::set_stage(const std::string& name, int version, const std::string& stage) {
  if (!is_stage(stage)) throw Error("'" + stage + "' is not a stage: staging, production, archived or none");
  Transaction transaction(db_, path_);
  Statement current(db_, path_, "SELECT stage FROM model_versions WHERE name = ?1 AND version = ?2");
  current.bind(1, name).bind(2, static_cast<std::int64_t>(version));
  if (!current.step()) {
    const auto versions = models(name);
    if (versions.empty()) throw Error(no_such_model(name));
    throw Error(fmt::format("model '{}' has no version {}; its versions: {}", name, version, describe_versions(versions)));
  }
  StageChange change;
  change.name = name;
  change.version = version;
  change.from_stage = current.text(0);
  change.to_stage = stage;
  change.changed_by = store::user_name();
  if (change.from_stage == stage) return change;  // nothing changes, nothing to record
  Statement update(db_, path_, "UPDATE model_versions SET stage = ?3 WHERE name = ?1 AND version = ?2");
  update.bind(1, name).bind(2, static_cast<std::int64_t>(version)).bind(3, stage).run();
  Statement history(db_, path_,
                    "INSERT INTO stage_history (name, version, from_stage, to_stage, changed_at, changed_by) "
                    "VALUES (?1, ?2, ?3, ?4, strftime('%Y-%m-%dT%H:%M:%SZ','now'), ?5) RETURNING changed_at");
  history.bind(1, name).bind(2, static_cast<std::int64_t>(version)).bind(3, change.from_stage).bind(4, stage)
      .bind(5, change.changed_by);
  if (history.step()) change.changed_at = history.text(0);
  history.run();
  transaction.commit();
  return change;
}

std::vector<ModelVersion> RunStore::models(const std::string& name) const {
  const std::string sql = std::string(kVersionColumns) + (name.empty() ? "" : " WHERE name = ?1") + " ORDER BY name, version";
  Statement query(db_, path_, sql.c_str());
  if (!name.empty()) query.bind(1, name);
  std::vector<ModelVersion> versions;
  while (query.step()) versions.push_back(version_from_row(query));
  return versions;
}

std::string RunStore::no_such_model(const std::string& name) const {
  std::vector<std::string> names;
  for (const auto& model : models()) {
    if (names.empty() || names.back() != model.name) names.push_back(model.name);  // ordered by name
  }
  std::string listed;
  for (const auto& known : names) listed += (listed.empty() ? "" : ", ") + known;
  return "no model named '" + name + "' in " + path_ +
         (names.empty() ? " (no model is registered there yet)" : "; registered: " + listed);
}

std::vector<StageChange> RunStore::stage_history(const std::string& name) const {
  Statement query(db_, path_,
                  "SELECT name, version, from_stage, to_stage, changed_at, changed_by FROM stage_history "
                  "WHERE name = ?1 ORDER BY id");
  query.bind(1, name);
  std::vector<StageChange> changes;
  while (query.step()) {
    changes.push_back({query.text(0), static_cast<int>(query.integer(1)), query.text(2), query.text(3), query.text(4),
                       query.text(5)});
  }
  return changes;
}

std::string RunStore::resolve_model(const std::string& reference) const {
  const std::string prefix = kReferencePrefix;
  const std::string rest = reference.rfind(prefix, 0) == 0 ? reference.substr(prefix.size()) : "";
  const auto slash = rest.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == rest.size() || rest.find('/', slash + 1) != std::string::npos) {
    throw Error("'" + reference + "': expected models:/NAME/VERSION or models:/NAME/STAGE (e.g. models:/br35h-detector/production)");
  }
  const std::string name = rest.substr(0, slash), which = rest.substr(slash + 1);
  const auto versions = models(name);
  if (versions.empty()) throw Error("'" + reference + "': " + no_such_model(name));
  const ModelVersion* chosen = nullptr;
  if (which.find_first_not_of("0123456789") == std::string::npos) {
    for (const auto& v : versions) {
      if (v.version == std::atoi(which.c_str())) chosen = &v;
    }
    if (!chosen) {
      throw Error("'" + reference + "': model '" + name + "' has no version " + which + "; its versions: " +
                  describe_versions(versions));
    }
  } else if (is_stage(which)) {
    for (const auto& v : versions) {
      if (v.stage == which) chosen = &v;  // ordered by version: the newest wins
    }
    if (!chosen) {
      throw Error("'" + reference + "': no version of '" + name + "' is in " + which + "; its versions: " +
                  describe_versions(versions));
    }
  } else {
    throw Error("'" + reference + "': '" + which + "' is neither a version number nor a stage (staging, production, archived)");
  }
  std::error_code error;
  if (!fs::exists(fs::path(chosen->run_path) / "pipeline.toml", error)) {
    throw Error(fmt::format("'{}' is version {} of '{}', run {}, whose folder is gone", reference, chosen->version, name,
                            chosen->run_path));
  }
  return chosen->run_path;
}

std::string resolve_run_reference(const std::string& reference, const std::string& store_path) {
  if (reference.rfind(kReferencePrefix, 0) != 0) return reference;
  const RunStore store(store_path.empty() ? default_store_path() : store_path, false);
  return store.resolve_model(reference);
}

}  // namespace cerebra
