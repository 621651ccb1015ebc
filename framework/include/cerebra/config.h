// TOML pipeline files, read into a tree that remembers where every value came
// from (file:line:column), with includes and command-line overrides applied.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "cerebra/error.h"

namespace cerebra {

struct ConfigNode {
  enum class Kind { Bool, Int, Float, String, Array, Table };

  Kind kind = Kind::Table;
  bool boolean = false;
  std::int64_t integer = 0;
  double floating = 0.0;
  std::string string;
  std::vector<ConfigNode> items;                          // Array
  std::vector<std::pair<std::string, ConfigNode>> entries;  // Table, in file order
  SourceLocation where;      // where the value starts
  SourceLocation key_where;  // where the key naming it starts (table entries)

  bool is_table() const { return kind == Kind::Table; }
  bool is_array() const { return kind == Kind::Array; }
  const ConfigNode* find(const std::string& key) const;
  ConfigNode* find(const std::string& key);
  // Sets key (replacing an existing one in place).
  void set(const std::string& key, ConfigNode value);
  std::string type_name() const;  // "integer", "string", "table", ...
};

// Parses TOML text; `source_name` is what diagnostics call the file.
// Throws ConfigError (with the position) on a syntax error.
ConfigNode parse_toml(const std::string& text, const std::string& source_name);

// Reads a pipeline file and the files it includes (`include = ["base.toml"]`,
// relative to the including file). Included files are merged first, in order,
// then the including file; tables merge key by key, anything else is replaced.
ConfigNode load_config_file(const std::string& path);

// Applies `section.key=value` overrides. The value is read as TOML when it
// parses as a TOML value, otherwise as a plain string (so paths need no quotes).
// Throws ConfigError for a malformed override.
void apply_overrides(ConfigNode& root, const std::vector<std::string>& overrides);

// Deep-merges `overlay` into `base` (tables key by key, the rest replaced).
void merge_config(ConfigNode& base, const ConfigNode& overlay);

}  // namespace cerebra
