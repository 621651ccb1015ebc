// Parameters as data: every component declares a schema once, and that schema
// validates pipelines, drives `cerebra inspect` and fills resolved configs.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace cerebra {

enum class ParameterType { Bool, Int, Float, String, Path, NumberList, StringList };

const char* to_string(ParameterType type);

using Value = std::variant<bool, std::int64_t, double, std::string, std::vector<double>,
                           std::vector<std::string>>;

std::string format_value(const Value& value);  // TOML syntax
nlohmann::json to_json(const Value& value);

struct ParameterSpec {
  std::string name;
  ParameterType type = ParameterType::String;
  std::optional<Value> default_value;  // empty: the parameter is required
  std::optional<double> minimum;       // numbers and number lists
  std::optional<double> maximum;
  std::vector<std::string> choices;    // strings and string lists
  std::string component_kind;          // string lists naming registered components
  std::string doc;

  bool required() const { return !default_value.has_value(); }
  ParameterSpec& range(std::optional<double> low, std::optional<double> high);
  ParameterSpec& one_of(std::vector<std::string> allowed);
  ParameterSpec& names_components(const std::string& kind);
  nlohmann::json to_json() const;
  std::string describe_constraint() const;  // "[0, 1]", "one of a, b", or ""
};

class Schema {
 public:
  ParameterSpec& add_bool(const std::string& name, bool default_value, const std::string& doc);
  ParameterSpec& add_int(const std::string& name, std::int64_t default_value,
                         const std::string& doc);
  ParameterSpec& add_float(const std::string& name, double default_value, const std::string& doc);
  ParameterSpec& add_string(const std::string& name, const std::string& default_value,
                            const std::string& doc);
  ParameterSpec& add_path(const std::string& name, const std::string& default_value,
                          const std::string& doc);
  ParameterSpec& add_numbers(const std::string& name, std::vector<double> default_value,
                             const std::string& doc);
  ParameterSpec& add_strings(const std::string& name, std::vector<std::string> default_value,
                             const std::string& doc);
  ParameterSpec& add_required(const std::string& name, ParameterType type, const std::string& doc);

  const ParameterSpec* find(const std::string& name) const;
  const std::vector<ParameterSpec>& parameters() const { return parameters_; }
  std::vector<std::string> names() const;
  nlohmann::json to_json() const;

  // Problems with the schema itself (missing docs, defaults outside the range,
  // a default of the wrong type); empty when it is complete.
  std::vector<std::string> problems() const;

 private:
  ParameterSpec& add(ParameterSpec spec);
  std::vector<ParameterSpec> parameters_;
};

// Resolved values for one component: every parameter of its schema present.
class Parameters {
 public:
  Parameters() = default;

  void set(const std::string& name, Value value) { values_[name] = std::move(value); }
  bool has(const std::string& name) const { return values_.count(name) != 0; }
  const Value& get(const std::string& name) const;

  bool get_bool(const std::string& name) const;
  std::int64_t get_int(const std::string& name) const;
  double get_float(const std::string& name) const;  // accepts an int too
  const std::string& get_string(const std::string& name) const;
  std::vector<double> get_numbers(const std::string& name) const;
  const std::vector<std::string>& get_strings(const std::string& name) const;

  const std::map<std::string, Value>& values() const { return values_; }
  nlohmann::json to_json() const;

  // Every default of `schema` filled in; no validation (see config.h for that).
  static Parameters defaults(const class Schema& schema);

 private:
  std::map<std::string, Value> values_;
};

}  // namespace cerebra
