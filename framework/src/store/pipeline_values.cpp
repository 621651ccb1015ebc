// A resolved pipeline.toml as flat key/value pairs, the store's `params`.
#include <map>
#include <string>

#include <toml++/toml.h>

#include "cerebra/error.h"
#include "cerebra/files.h"
#include "cerebra/run_store.h"

namespace cerebra {

namespace {

using Values = std::map<std::string, nlohmann::json>;

nlohmann::json scalar(const toml::node& node) {
  if (auto value = node.as_integer()) return value->get();
  if (auto value = node.as_floating_point()) return value->get();
  if (auto value = node.as_boolean()) return value->get() ? "true" : "false";
  if (auto value = node.as_string()) return value->get();
  if (auto array = node.as_array()) {
    // A list of plain values: "a, b, c".
    std::string joined;
    for (const auto& element : *array) {
      const nlohmann::json item = scalar(element);
      joined += (joined.empty() ? "" : ", ") + (item.is_string() ? item.get<std::string>() : item.dump());
    }
    return joined;
  }
  return nullptr;  // dates and times: no pipeline setting has one
}

void flatten(const std::string& prefix, const toml::node& node, Values& values);

// A table: its `type` names the component (`model=resnet50`), each other key
// goes under the prefix.
void flatten_table(const std::string& prefix, const toml::table& table, Values& values) {
  for (const auto& [key, child] : table) {
    const std::string name(key.str());
    if (name == "type" && !prefix.empty() && child.is_string()) {
      values[prefix] = scalar(child);
      continue;
    }
    flatten(prefix.empty() ? name : prefix + "." + name, child, values);
  }
}

void flatten(const std::string& prefix, const toml::node& node, Values& values) {
  if (auto table = node.as_table()) return flatten_table(prefix, *table, values);
  if (auto array = node.as_array(); array && array->is_array_of_tables()) {
    int index = 0;
    for (const auto& element : *array) flatten_table(prefix + "." + std::to_string(++index), *element.as_table(), values);
    return;
  }
  values[prefix] = scalar(node);
}

}  // namespace

std::map<std::string, nlohmann::json> flatten_pipeline_file(const std::string& pipeline_toml) {
  const std::string text = read_file(pipeline_toml);
  toml::table root;
  try {
    root = toml::parse(text, pipeline_toml);
  } catch (const toml::parse_error& error) {
    throw Error(pipeline_toml + ": not valid TOML (" + std::string(error.description()) + ")");
  }
  Values values;
  flatten_table("", root, values);
  return values;
}

}  // namespace cerebra
