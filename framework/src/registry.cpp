#include "cerebra/registry.h"

#include <algorithm>
#include <set>

namespace cerebra {

Component::~Component() = default;

namespace {
std::string describe_unknown(const std::string& kind, const std::string& name,
                             const std::vector<std::string>& available,
                             const std::string& closest) {
  (void)closest;  // the same suggestion did_you_mean makes
  std::string message = "unknown " + kind + " '" + name + "'" + did_you_mean(name, available);
  message += "; available: " + join(available);
  return message;
}
}  // namespace

UnknownComponentError::UnknownComponentError(std::string kind, std::string name,
                                             std::vector<std::string> available,
                                             std::string closest)
    : Error(describe_unknown(kind, name, available, closest)),
      kind_(std::move(kind)),
      name_(std::move(name)),
      available_(std::move(available)),
      closest_(std::move(closest)) {}

void Registry::add(ComponentInfo info) {
  if (info.kind.empty() || info.name.empty()) {
    throw Error("a component needs a kind and a name (plugin " + current_plugin_file_ + ")");
  }
  if (!info.factory) {
    throw Error("component " + info.kind + "/" + info.name + " has no factory");
  }
  Key key{info.kind, info.name};
  auto existing = components_.find(key);
  if (existing != components_.end()) {
    throw DuplicateComponentError("duplicate component " + info.kind + "/" + info.name +
                                  ": registered by " + existing->second.plugin_file +
                                  " and again by " + current_plugin_file_);
  }
  info.plugin_name = current_plugin_name_;
  info.plugin_file = current_plugin_file_;
  components_.emplace(key, std::move(info));
  pending_.push_back(key);
}

const ComponentInfo* Registry::try_find(const std::string& kind, const std::string& name) const {
  auto it = components_.find({kind, name});
  return it == components_.end() ? nullptr : &it->second;
}

const ComponentInfo& Registry::find(const std::string& kind, const std::string& name) const {
  if (const auto* info = try_find(kind, name)) return *info;
  auto available = names(kind);
  throw UnknownComponentError(kind, name, available, closest_match(name, available));
}

std::vector<const ComponentInfo*> Registry::list(const std::string& kind) const {
  std::vector<const ComponentInfo*> out;
  for (const auto& [key, info] : components_) {
    if (kind.empty() || key.first == kind) out.push_back(&info);
  }
  return out;  // std::map keeps (kind, name) order
}

std::vector<std::string> Registry::names(const std::string& kind) const {
  std::vector<std::string> out;
  for (const auto* info : list(kind)) out.push_back(info->name);
  return out;
}

std::vector<std::string> Registry::kinds() const {
  std::set<std::string> found{kinds::dataset, kinds::transform, kinds::architecture,
                              kinds::metric};
  for (const auto& [key, info] : components_) found.insert(key.first);
  return {found.begin(), found.end()};
}

std::vector<const ComponentInfo*> Registry::find_by_name(const std::string& name) const {
  std::vector<const ComponentInfo*> out;
  for (const auto& [key, info] : components_) {
    if (key.second == name) out.push_back(&info);
  }
  return out;
}

std::unique_ptr<Component> Registry::create(const std::string& kind, const std::string& name,
                                            const Parameters& parameters) const {
  const ComponentInfo& info = find(kind, name);
  // Fill any default the caller left out, so factories can rely on every value.
  Parameters complete = Parameters::defaults(info.schema);
  for (const auto& [key, value] : parameters.values()) complete.set(key, value);
  for (const auto& spec : info.schema.parameters()) {
    if (!complete.has(spec.name)) {
      throw Error(kind + " '" + name + "' needs a value for '" + spec.name + "'");
    }
  }
  auto component = info.factory(complete);
  if (!component) throw Error(kind + " '" + name + "': factory returned nothing");
  return component;
}

void Registry::begin_plugin(const std::string& plugin_name, const std::string& plugin_file) {
  pending_.clear();
  current_plugin_name_ = plugin_name;
  current_plugin_file_ = plugin_file;
}

void Registry::commit_plugin() {
  pending_.clear();
  current_plugin_name_ = current_plugin_file_ = "(built in)";
}

void Registry::rollback_plugin() {
  for (const auto& key : pending_) components_.erase(key);
  commit_plugin();
}

}  // namespace cerebra
