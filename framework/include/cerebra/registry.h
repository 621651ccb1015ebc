// The component registry, keyed by (kind, name).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cerebra/error.h"
#include "cerebra/parameters.h"

namespace cerebra {

namespace kinds {
inline constexpr const char* dataset = "dataset";
inline constexpr const char* transform = "transform";
inline constexpr const char* architecture = "architecture";
inline constexpr const char* metric = "metric";
inline constexpr const char* loss = "loss";
inline constexpr const char* optimizer = "optimizer";
inline constexpr const char* schedule = "schedule";
inline constexpr const char* objective = "objective";
inline constexpr const char* callback = "callback";
}  // namespace kinds

// Base of everything a factory makes.
class Component {
 public:
  virtual ~Component();
};

using Factory = std::function<std::unique_ptr<Component>(const Parameters&)>;

struct ComponentInfo {
  std::string kind;
  std::string name;
  std::string summary;  // one line
  Schema schema;
  Factory factory;
  // Filled by the registry from the plugin being registered.
  std::string plugin_name;
  std::string plugin_file;
};

class UnknownComponentError : public Error {
 public:
  UnknownComponentError(std::string kind, std::string name, std::vector<std::string> available,
                        std::string closest);
  const std::string& kind() const { return kind_; }
  const std::string& name() const { return name_; }
  const std::vector<std::string>& available() const { return available_; }
  const std::string& closest() const { return closest_; }

 private:
  std::string kind_, name_;
  std::vector<std::string> available_;
  std::string closest_;
};

class DuplicateComponentError : public Error {
 public:
  using Error::Error;
};

class Registry {
 public:
  // Adds a component; a (kind, name) pair already present is an error naming
  // both plugin files.
  void add(ComponentInfo info);

  // Convenience for plugins: `registry.add<Resize>(kinds::transform, "resize", ...)`.
  template <class T>
  void add(const std::string& kind, const std::string& name, const std::string& summary,
           Schema schema) {
    ComponentInfo info;
    info.kind = kind;
    info.name = name;
    info.summary = summary;
    info.schema = std::move(schema);
    info.factory = [](const Parameters& parameters) -> std::unique_ptr<Component> {
      return std::make_unique<T>(parameters);
    };
    add(std::move(info));
  }

  const ComponentInfo* try_find(const std::string& kind, const std::string& name) const;
  // Throws UnknownComponentError listing what is available and the closest name.
  const ComponentInfo& find(const std::string& kind, const std::string& name) const;
  // Components of one kind (all kinds when empty), sorted by kind then name.
  std::vector<const ComponentInfo*> list(const std::string& kind = "") const;
  std::vector<std::string> names(const std::string& kind) const;
  std::vector<std::string> kinds() const;
  // Every component whose name is `name`, whatever its kind.
  std::vector<const ComponentInfo*> find_by_name(const std::string& name) const;

  std::unique_ptr<Component> create(const std::string& kind, const std::string& name,
                                    const Parameters& parameters) const;

  template <class T>
  std::unique_ptr<T> create_as(const std::string& kind, const std::string& name,
                               const Parameters& parameters) const {
    auto component = create(kind, name, parameters);
    auto* typed = dynamic_cast<T*>(component.get());
    if (!typed) {
      throw Error("component '" + name + "' of kind '" + kind +
                  "' does not implement the interface that kind requires");
    }
    component.release();
    return std::unique_ptr<T>(typed);
  }

  // Used by the plugin loader: registrations between begin and commit belong
  // to that plugin, and are dropped by rollback if registration fails.
  void begin_plugin(const std::string& plugin_name, const std::string& plugin_file);
  void commit_plugin();
  void rollback_plugin();

 private:
  using Key = std::pair<std::string, std::string>;
  std::map<Key, ComponentInfo> components_;
  std::vector<Key> pending_;
  std::string current_plugin_name_ = "(built in)";
  std::string current_plugin_file_ = "(built in)";
};

}  // namespace cerebra
