#include "cerebra/parameters.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cerebra/error.h"

namespace cerebra {

const char* to_string(ParameterType type) {
  switch (type) {
    case ParameterType::Bool: return "bool";
    case ParameterType::Int: return "int";
    case ParameterType::Float: return "float";
    case ParameterType::String: return "string";
    case ParameterType::Path: return "path";
    case ParameterType::NumberList: return "list of numbers";
    case ParameterType::StringList: return "list of strings";
  }
  return "?";
}

namespace {
std::string quote(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default: out += c;
    }
  }
  return out + "\"";
}

std::string format_number(double value) {
  if (std::isfinite(value) && value == std::floor(value) && std::fabs(value) < 1e15) {
    return fmt::format("{:.1f}", value);
  }
  return fmt::format("{}", value);
}

bool value_matches(const Value& value, ParameterType type) {
  switch (type) {
    case ParameterType::Bool: return std::holds_alternative<bool>(value);
    case ParameterType::Int: return std::holds_alternative<std::int64_t>(value);
    case ParameterType::Float: return std::holds_alternative<double>(value);
    case ParameterType::String:
    case ParameterType::Path: return std::holds_alternative<std::string>(value);
    case ParameterType::NumberList: return std::holds_alternative<std::vector<double>>(value);
    case ParameterType::StringList:
      return std::holds_alternative<std::vector<std::string>>(value);
  }
  return false;
}
}  // namespace

std::string format_value(const Value& value) {
  struct Visitor {
    std::string operator()(bool v) const { return v ? "true" : "false"; }
    std::string operator()(std::int64_t v) const { return std::to_string(v); }
    std::string operator()(double v) const { return format_number(v); }
    std::string operator()(const std::string& v) const { return quote(v); }
    std::string operator()(const std::vector<double>& v) const {
      std::string out = "[";
      for (std::size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + format_number(v[i]);
      return out + "]";
    }
    std::string operator()(const std::vector<std::string>& v) const {
      std::string out = "[";
      for (std::size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + quote(v[i]);
      return out + "]";
    }
  };
  return std::visit(Visitor{}, value);
}

nlohmann::json to_json(const Value& value) {
  return std::visit([](const auto& v) { return nlohmann::json(v); }, value);
}

ParameterSpec& ParameterSpec::range(std::optional<double> low, std::optional<double> high) {
  minimum = low;
  maximum = high;
  return *this;
}

ParameterSpec& ParameterSpec::one_of(std::vector<std::string> allowed) {
  choices = std::move(allowed);
  return *this;
}

ParameterSpec& ParameterSpec::names_components(const std::string& kind) {
  component_kind = kind;
  return *this;
}

std::string ParameterSpec::describe_constraint() const {
  if (!choices.empty()) return "one of " + join(choices);
  if (!component_kind.empty()) return "registered " + component_kind + " names";
  if (minimum && maximum) {
    return fmt::format("[{}, {}]", *minimum, *maximum);
  }
  if (minimum) return fmt::format(">= {}", *minimum);
  if (maximum) return fmt::format("<= {}", *maximum);
  return "";
}

nlohmann::json ParameterSpec::to_json() const {
  nlohmann::json j;
  j["name"] = name;
  j["type"] = cerebra::to_string(type);
  j["required"] = required();
  j["default"] = default_value ? cerebra::to_json(*default_value) : nlohmann::json(nullptr);
  j["minimum"] = minimum ? nlohmann::json(*minimum) : nlohmann::json(nullptr);
  j["maximum"] = maximum ? nlohmann::json(*maximum) : nlohmann::json(nullptr);
  j["choices"] = choices;
  if (!component_kind.empty()) j["component_kind"] = component_kind;
  j["doc"] = doc;
  return j;
}

ParameterSpec& Schema::add(ParameterSpec spec) {
  for (auto& existing : parameters_) {
    if (existing.name == spec.name) {
      existing = std::move(spec);
      return existing;
    }
  }
  parameters_.push_back(std::move(spec));
  return parameters_.back();
}

#define CEREBRA_ADD_PARAMETER(TYPE, VALUE)                                   \
  ParameterSpec spec;                                                        \
  spec.name = name;                                                          \
  spec.type = ParameterType::TYPE;                                           \
  spec.default_value = Value(VALUE);                                         \
  spec.doc = doc;                                                            \
  return add(std::move(spec))

ParameterSpec& Schema::add_bool(const std::string& name, bool default_value,
                                const std::string& doc) {
  CEREBRA_ADD_PARAMETER(Bool, default_value);
}
ParameterSpec& Schema::add_int(const std::string& name, std::int64_t default_value,
                               const std::string& doc) {
  CEREBRA_ADD_PARAMETER(Int, default_value);
}
ParameterSpec& Schema::add_float(const std::string& name, double default_value,
                                 const std::string& doc) {
  CEREBRA_ADD_PARAMETER(Float, default_value);
}
ParameterSpec& Schema::add_string(const std::string& name, const std::string& default_value,
                                  const std::string& doc) {
  CEREBRA_ADD_PARAMETER(String, default_value);
}
ParameterSpec& Schema::add_path(const std::string& name, const std::string& default_value,
                                const std::string& doc) {
  CEREBRA_ADD_PARAMETER(Path, default_value);
}
ParameterSpec& Schema::add_numbers(const std::string& name, std::vector<double> default_value,
                                   const std::string& doc) {
  CEREBRA_ADD_PARAMETER(NumberList, std::move(default_value));
}
ParameterSpec& Schema::add_strings(const std::string& name,
                                   std::vector<std::string> default_value,
                                   const std::string& doc) {
  CEREBRA_ADD_PARAMETER(StringList, std::move(default_value));
}
#undef CEREBRA_ADD_PARAMETER

ParameterSpec& Schema::add_required(const std::string& name, ParameterType type,
                                    const std::string& doc) {
  ParameterSpec spec;
  spec.name = name;
  spec.type = type;
  spec.doc = doc;
  return add(std::move(spec));
}

const ParameterSpec* Schema::find(const std::string& name) const {
  for (const auto& spec : parameters_) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

std::vector<std::string> Schema::names() const {
  std::vector<std::string> out;
  for (const auto& spec : parameters_) out.push_back(spec.name);
  return out;
}

nlohmann::json Schema::to_json() const {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& spec : parameters_) j.push_back(spec.to_json());
  return j;
}

std::vector<std::string> Schema::problems() const {
  std::vector<std::string> out;
  for (const auto& spec : parameters_) {
    if (spec.name.empty()) out.push_back("a parameter has no name");
    if (spec.doc.empty()) out.push_back("parameter '" + spec.name + "' has no documentation");
    if (!spec.default_value) continue;
    const Value& value = *spec.default_value;
    if (!value_matches(value, spec.type)) {
      out.push_back("parameter '" + spec.name + "' has a default of the wrong type");
      continue;
    }
    auto check_number = [&](double number) {
      if ((spec.minimum && number < *spec.minimum) || (spec.maximum && number > *spec.maximum)) {
        out.push_back(fmt::format("parameter '{}' default {} is outside {}", spec.name, number,
                                  spec.describe_constraint()));
      }
    };
    auto check_choice = [&](const std::string& text) {
      if (!spec.choices.empty() &&
          std::find(spec.choices.begin(), spec.choices.end(), text) == spec.choices.end()) {
        out.push_back("parameter '" + spec.name + "' default \"" + text + "\" is not one of " +
                      join(spec.choices));
      }
    };
    if (auto* i = std::get_if<std::int64_t>(&value)) check_number(static_cast<double>(*i));
    if (auto* d = std::get_if<double>(&value)) check_number(*d);
    if (auto* list = std::get_if<std::vector<double>>(&value)) {
      for (double d : *list) check_number(d);
    }
    if (auto* s = std::get_if<std::string>(&value)) check_choice(*s);
    if (auto* list = std::get_if<std::vector<std::string>>(&value)) {
      for (const auto& s : *list) check_choice(s);
    }
  }
  return out;
}

const Value& Parameters::get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) throw Error("parameter '" + name + "' has no value");
  return it->second;
}

namespace {
template <class T>
const T& get_typed(const Value& value, const std::string& name, const char* expected) {
  if (auto* typed = std::get_if<T>(&value)) return *typed;
  throw Error("parameter '" + name + "' is not a " + expected);
}
}  // namespace

bool Parameters::get_bool(const std::string& name) const {
  return get_typed<bool>(get(name), name, "bool");
}
std::int64_t Parameters::get_int(const std::string& name) const {
  return get_typed<std::int64_t>(get(name), name, "int");
}
double Parameters::get_float(const std::string& name) const {
  const Value& value = get(name);
  if (auto* i = std::get_if<std::int64_t>(&value)) return static_cast<double>(*i);
  return get_typed<double>(value, name, "float");
}
const std::string& Parameters::get_string(const std::string& name) const {
  return get_typed<std::string>(get(name), name, "string");
}
std::vector<double> Parameters::get_numbers(const std::string& name) const {
  return get_typed<std::vector<double>>(get(name), name, "list of numbers");
}
const std::vector<std::string>& Parameters::get_strings(const std::string& name) const {
  return get_typed<std::vector<std::string>>(get(name), name, "list of strings");
}

nlohmann::json Parameters::to_json() const {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [name, value] : values_) j[name] = cerebra::to_json(value);
  return j;
}

Parameters Parameters::defaults(const Schema& schema) {
  Parameters parameters;
  for (const auto& spec : schema.parameters()) {
    if (spec.default_value) parameters.set(spec.name, *spec.default_value);
  }
  return parameters;
}

}  // namespace cerebra
