#include "cerebra/config.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <toml++/toml.h>

namespace cerebra {

namespace fs = std::filesystem;

const ConfigNode* ConfigNode::find(const std::string& key) const {
  for (const auto& [name, node] : entries) {
    if (name == key) return &node;
  }
  return nullptr;
}

ConfigNode* ConfigNode::find(const std::string& key) {
  for (auto& [name, node] : entries) {
    if (name == key) return &node;
  }
  return nullptr;
}

void ConfigNode::set(const std::string& key, ConfigNode value) {
  if (ConfigNode* existing = find(key)) {
    *existing = std::move(value);
  } else {
    entries.emplace_back(key, std::move(value));
  }
}

std::string ConfigNode::type_name() const {
  switch (kind) {
    case Kind::Bool: return "boolean";
    case Kind::Int: return "integer";
    case Kind::Float: return "float";
    case Kind::String: return "string";
    case Kind::Array: return "array";
    case Kind::Table: return "table";
  }
  return "?";
}

namespace {

SourceLocation location_of(const toml::node& node, const std::string& file) {
  const auto& begin = node.source().begin;
  return SourceLocation{file, static_cast<int>(begin.line), static_cast<int>(begin.column)};
}

ConfigNode convert(const toml::node& node, const std::string& file) {
  ConfigNode out;
  out.where = location_of(node, file);
  if (const auto* table = node.as_table()) {
    out.kind = ConfigNode::Kind::Table;
    for (const auto& [key, child] : *table) {
      ConfigNode converted = convert(child, file);
      const auto& key_begin = key.source().begin;
      converted.key_where = key_begin.line > 0
                                ? SourceLocation{file, static_cast<int>(key_begin.line),
                                                 static_cast<int>(key_begin.column)}
                                : converted.where;
      out.entries.emplace_back(std::string(key.str()), std::move(converted));
    }
    // toml++ keeps keys sorted; file order reads better in messages and output.
    std::stable_sort(out.entries.begin(), out.entries.end(), [](const auto& a, const auto& b) {
      return std::tie(a.second.where.line, a.second.where.column) <
             std::tie(b.second.where.line, b.second.where.column);
    });
  } else if (const auto* array = node.as_array()) {
    out.kind = ConfigNode::Kind::Array;
    for (const auto& child : *array) out.items.push_back(convert(child, file));
  } else if (const auto* value = node.as_boolean()) {
    out.kind = ConfigNode::Kind::Bool;
    out.boolean = value->get();
  } else if (const auto* value = node.as_integer()) {
    out.kind = ConfigNode::Kind::Int;
    out.integer = value->get();
  } else if (const auto* value = node.as_floating_point()) {
    out.kind = ConfigNode::Kind::Float;
    out.floating = value->get();
  } else if (const auto* value = node.as_string()) {
    out.kind = ConfigNode::Kind::String;
    out.string = value->get();
  } else {
    // Dates and times have no use in a pipeline; keep their text for messages.
    out.kind = ConfigNode::Kind::String;
    std::ostringstream text;
    node.visit([&](const auto& value) {
      if constexpr (toml::is_date<decltype(value)> || toml::is_time<decltype(value)> ||
                    toml::is_date_time<decltype(value)>) {
        text << value;
      }
    });
    out.string = text.str();
  }
  return out;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw ConfigError({Diagnostic{{path, 0, 0}, std::string("cannot read: ") + std::strerror(errno)}});
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

ConfigNode load_recursive(const fs::path& path, std::vector<fs::path>& stack) {
  std::error_code error;
  fs::path canonical = fs::weakly_canonical(path, error);
  if (error) canonical = fs::absolute(path);
  if (std::find(stack.begin(), stack.end(), canonical) != stack.end()) {
    std::string chain;
    for (const auto& p : stack) chain += p.string() + " -> ";
    throw ConfigError({Diagnostic{{path.string(), 0, 0}, "include cycle: " + chain + canonical.string()}});
  }
  if (fs::is_directory(path, error)) {
    throw ConfigError({Diagnostic{{path.string(), 0, 0}, "is a folder, not a TOML file"}});
  }
  ConfigNode own = parse_toml(read_file(path.string()), path.string());

  const ConfigNode* include = own.find("include");
  if (!include) return own;

  std::vector<std::pair<std::string, SourceLocation>> includes;
  std::vector<Diagnostic> problems;
  if (include->kind == ConfigNode::Kind::String) {
    includes.emplace_back(include->string, include->where);
  } else if (include->kind == ConfigNode::Kind::Array) {
    for (const auto& item : include->items) {
      if (item.kind == ConfigNode::Kind::String) {
        includes.emplace_back(item.string, item.where);
      } else {
        problems.push_back({item.where, "include: expected a file name (string), found " + item.type_name()});
      }
    }
  } else {
    problems.push_back({include->where, "include: expected a list of file names, found " + include->type_name()});
  }
  if (!problems.empty()) throw ConfigError(problems);

  stack.push_back(canonical);
  ConfigNode merged;
  merged.kind = ConfigNode::Kind::Table;
  merged.where = own.where;
  for (const auto& [name, where] : includes) {
    fs::path included = fs::path(name).is_absolute() ? fs::path(name) : path.parent_path() / name;
    if (!fs::exists(included)) {
      throw ConfigError({Diagnostic{where, "included file not found: " + included.string()}});
    }
    merge_config(merged, load_recursive(included, stack));
  }
  stack.pop_back();
  own.entries.erase(std::remove_if(own.entries.begin(), own.entries.end(),
                                   [](const auto& entry) { return entry.first == "include"; }),
                    own.entries.end());
  merge_config(merged, own);
  return merged;
}

// toml++ reports an integer beyond 64 bits as a parse error; to the user it is
// a number out of range, not a syntax error (nor, after --set's fallback to a
// bare word, a string).
bool is_out_of_range(const toml::parse_error& error) {
  return error.description().find("not representable in 64 bits") != std::string_view::npos;
}

std::string describe(const toml::parse_error& error) {
  if (!is_out_of_range(error)) return "TOML syntax error: " + std::string(error.description());
  return "number out of range: " + std::string(error.description()) +
         " (integers lie between -9223372036854775808 and 9223372036854775807)";
}

}  // namespace

ConfigNode parse_toml(const std::string& text, const std::string& source_name) {
  try {
    toml::table table = toml::parse(text, source_name);
    ConfigNode root = convert(table, source_name);
    root.where = SourceLocation{source_name, 1, 1};
    return root;
  } catch (const toml::parse_error& error) {
    const auto& begin = error.source().begin;
    throw ConfigError({Diagnostic{{source_name, static_cast<int>(begin.line), static_cast<int>(begin.column)},
                                  describe(error)}});
  }
}

ConfigNode load_config_file(const std::string& path) {
  std::vector<fs::path> stack;
  return load_recursive(path, stack);
}

void merge_config(ConfigNode& base, const ConfigNode& overlay) {
  if (!base.is_table() || !overlay.is_table()) {
    base = overlay;
    return;
  }
  for (const auto& [key, value] : overlay.entries) {
    ConfigNode* existing = base.find(key);
    if (existing && existing->is_table() && value.is_table()) {
      merge_config(*existing, value);
    } else {
      base.set(key, value);
    }
  }
}

void apply_overrides(ConfigNode& root, const std::vector<std::string>& overrides) {
  std::vector<Diagnostic> problems;
  for (const auto& text : overrides) {
    const std::string source = "--set " + text;
    auto equals = text.find('=');
    if (equals == std::string::npos || equals == 0) {
      problems.push_back({{source, 0, 0}, "expected section.key=value"});
      continue;
    }
    std::string dotted = text.substr(0, equals);
    std::string raw = text.substr(equals + 1);
    std::vector<std::string> path;
    for (std::size_t start = 0;;) {
      auto dot = dotted.find('.', start);
      path.push_back(dotted.substr(start, dot - start));
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    if (std::any_of(path.begin(), path.end(), [](const auto& part) { return part.empty(); })) {
      problems.push_back({{source, 0, 0}, "expected section.key=value"});
      continue;
    }

    ConfigNode value;
    try {
      toml::table parsed = toml::parse("value = " + raw, source);
      value = convert(*parsed.get("value"), source);
    } catch (const toml::parse_error& error) {
      if (is_out_of_range(error)) {
        problems.push_back({{source, 0, 0}, describe(error)});
        continue;
      }
      value.kind = ConfigNode::Kind::String;  // bare words and paths need no quotes
      value.string = raw;
    }
    auto mark = [&](ConfigNode& node, auto& self) -> void {
      node.where = node.key_where = SourceLocation{source, 0, 0};
      for (auto& item : node.items) self(item, self);
      for (auto& entry : node.entries) self(entry.second, self);
    };
    mark(value, mark);

    // Walk down, creating tables as needed; a number selects an element of an
    // array of tables ("preprocess.0.size=128").
    ConfigNode* node = &root;
    bool ok = true;
    for (std::size_t i = 0; i + 1 < path.size() && ok; ++i) {
      const std::string& part = path[i];
      if (node->is_array()) {
        char* end = nullptr;
        long index = std::strtol(part.c_str(), &end, 10);
        if (*end != '\0' || index < 0 || static_cast<std::size_t>(index) >= node->items.size()) {
          problems.push_back({{source, 0, 0}, "'" + part + "' is not an index of the " +
                                                  std::to_string(node->items.size()) +
                                                  " entries of that list"});
          ok = false;
          break;
        }
        node = &node->items[static_cast<std::size_t>(index)];
        continue;
      }
      if (!node->is_table()) {
        problems.push_back({{source, 0, 0}, "'" + part + "' is inside a " + node->type_name() +
                                                ", not a table"});
        ok = false;
        break;
      }
      ConfigNode* child = node->find(part);
      if (!child) {
        ConfigNode table;
        table.kind = ConfigNode::Kind::Table;
        table.where = table.key_where = SourceLocation{source, 0, 0};  // an unknown section names the override
        node->set(part, table);
        child = node->find(part);
      }
      node = child;
    }
    if (!ok) continue;
    if (!node->is_table()) {
      problems.push_back({{source, 0, 0}, "cannot set a key inside a " + node->type_name()});
      continue;
    }
    node->set(path.back(), value);
  }
  if (!problems.empty()) throw ConfigError(problems);
}

}  // namespace cerebra
