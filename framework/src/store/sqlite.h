// A thin layer over SQLite's C API for the run store: prepared statements
// with bound values, an immediate transaction, and errors that name the
// store file and say what went wrong in words.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace cerebra::store {

// Throws cerebra::Error naming `file`: not a database, corrupt, locked past
// the busy timeout, or SQLite's own message; `doing` says what failed.
[[noreturn]] void fail(sqlite3* db, int code, const std::string& file, const std::string& doing);

// Runs statements that bind nothing and return no rows.
void execute(sqlite3* db, const std::string& file, const char* sql);

class Statement {
 public:
  Statement(sqlite3* db, const std::string& file, const char* sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // Binds to the 1-based parameter `index`.
  Statement& bind(int index, const std::string& text);
  Statement& bind(int index, std::int64_t number);
  Statement& bind_double(int index, double number);
  Statement& bind_null(int index);
  // A JSON number as INTEGER or REAL, a string as TEXT, anything else as its JSON text.
  Statement& bind_json(int index, const nlohmann::json& value);

  // Steps once: true when a row is there, false when done.
  bool step();
  // Steps to the end (for statements that return no rows).
  void run();
  void reset();

  std::string text(int column) const;
  std::int64_t integer(int column) const;
  double real(int column) const;
  bool is_null(int column) const;
  // The column as JSON: INTEGER and REAL as numbers, TEXT as a string, NULL as null.
  nlohmann::json value(int column) const;

 private:
  sqlite3* db_;
  const std::string& file_;
  sqlite3_stmt* statement_ = nullptr;
};

// BEGIN IMMEDIATE: the write lock is taken at the start (waiting up to the
// busy timeout), so a transaction never fails half-way for a lock. Rolled
// back unless commit() is called.
class Transaction {
 public:
  Transaction(sqlite3* db, const std::string& file);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit();

 private:
  sqlite3* db_;
  const std::string& file_;
  bool open_ = true;
};

}  // namespace cerebra::store
