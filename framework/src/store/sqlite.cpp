#include "sqlite.h"

#include <fmt/format.h>

#include "cerebra/error.h"

namespace cerebra::store {

void fail(sqlite3* db, int code, const std::string& file, const std::string& doing) {
  const std::string detail = db ? sqlite3_errmsg(db) : sqlite3_errstr(code);
  switch (code & 0xff) {
    case SQLITE_NOTADB:
      throw Error(file + ": not an SQLite database (" + detail + "); move it away or point CEREBRA_STORE elsewhere");
    case SQLITE_CORRUPT:
      throw Error(file + ": the store is corrupt (" + detail +
                  "); move it away and rebuild it with `cerebra runs index DIR`");
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      throw Error(file + ": " + doing + ": the store stayed locked by another process past the busy timeout (" +
                  detail + "); try again when it is done");
    case SQLITE_CANTOPEN:
      throw Error(file + ": cannot open the store (" + detail + ")");
    case SQLITE_READONLY:
      throw Error(file + ": the store is read-only here (" + detail + ")");
    default:
      throw Error(file + ": " + doing + ": " + detail);
  }
}

void execute(sqlite3* db, const std::string& file, const char* sql) {
  char* message = nullptr;
  const int code = sqlite3_exec(db, sql, nullptr, nullptr, &message);
  if (message) sqlite3_free(message);
  if (code != SQLITE_OK) fail(db, code, file, "running the store's SQL");
}

Statement::Statement(sqlite3* db, const std::string& file, const char* sql) : db_(db), file_(file) {
  const int code = sqlite3_prepare_v2(db, sql, -1, &statement_, nullptr);
  if (code != SQLITE_OK) fail(db, code, file, "preparing a query");
}

Statement::~Statement() { sqlite3_finalize(statement_); }

Statement& Statement::bind(int index, const std::string& text) {
  sqlite3_bind_text(statement_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  return *this;
}

Statement& Statement::bind(int index, std::int64_t number) {
  sqlite3_bind_int64(statement_, index, number);
  return *this;
}

Statement& Statement::bind_double(int index, double number) {
  sqlite3_bind_double(statement_, index, number);
  return *this;
}

Statement& Statement::bind_null(int index) {
  sqlite3_bind_null(statement_, index);
  return *this;
}

Statement& Statement::bind_json(int index, const nlohmann::json& value) {
  if (value.is_number_integer()) return bind(index, value.get<std::int64_t>());
  if (value.is_number()) return bind_double(index, value.get<double>());
  if (value.is_string()) return bind(index, value.get<std::string>());
  if (value.is_null()) return bind_null(index);
  return bind(index, value.dump());
}

bool Statement::step() {
  const int code = sqlite3_step(statement_);
  if (code == SQLITE_ROW) return true;
  if (code == SQLITE_DONE) return false;
  fail(db_, code, file_, "reading or writing the store");
}

void Statement::run() {
  while (step()) {
  }
}

void Statement::reset() {
  sqlite3_reset(statement_);
  sqlite3_clear_bindings(statement_);
}

std::string Statement::text(int column) const {
  const unsigned char* text = sqlite3_column_text(statement_, column);
  return text ? std::string(reinterpret_cast<const char*>(text), static_cast<std::size_t>(sqlite3_column_bytes(statement_, column)))
              : std::string();
}

std::int64_t Statement::integer(int column) const { return sqlite3_column_int64(statement_, column); }
double Statement::real(int column) const { return sqlite3_column_double(statement_, column); }
bool Statement::is_null(int column) const { return sqlite3_column_type(statement_, column) == SQLITE_NULL; }

nlohmann::json Statement::value(int column) const {
  switch (sqlite3_column_type(statement_, column)) {
    case SQLITE_INTEGER: return integer(column);
    case SQLITE_FLOAT: return real(column);
    case SQLITE_NULL: return nullptr;
    default: return text(column);
  }
}

Transaction::Transaction(sqlite3* db, const std::string& file) : db_(db), file_(file) {
  execute(db, file, "BEGIN IMMEDIATE");
}

Transaction::~Transaction() {
  if (open_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
}

void Transaction::commit() {
  execute(db_, file_, "COMMIT");
  open_ = false;
}

}  // namespace cerebra::store
