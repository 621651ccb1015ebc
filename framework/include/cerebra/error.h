#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace cerebra {

// Where a value came from: a TOML file position, or a command-line override.
struct SourceLocation {
  std::string file;
  int line = 0;
  int column = 0;

  std::string to_string() const;  // "file:line:column", or just "file"
};

struct Diagnostic {
  SourceLocation where;
  std::string message;

  std::string to_string() const;  // "file:line:column: message"
};

// Base of every error the framework reports to a user.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A configuration with one or more problems; all of them are collected before
// it is thrown, so the user fixes everything in one pass.
class ConfigError : public Error {
 public:
  explicit ConfigError(std::vector<Diagnostic> diagnostics);
  const std::vector<Diagnostic>& diagnostics() const { return diagnostics_; }

 private:
  std::vector<Diagnostic> diagnostics_;
};

// Closest candidate by edit distance, or "" when nothing is reasonably close.
std::string closest_match(const std::string& word, const std::vector<std::string>& candidates);

// " (did you mean 'x'?)" for the closest candidate, or "" when none is close:
// the one way every message suggests a name.
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);

// An exception's message without the stack trace torch appends.
std::string brief(const std::exception& error);

// "a, b, c" (or "(none)").
std::string join(const std::vector<std::string>& items, const std::string& separator = ", ");

}  // namespace cerebra
