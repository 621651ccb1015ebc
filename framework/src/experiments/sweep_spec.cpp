// The [sweep] table of a pipeline: what to vary, how many trials, what to
// optimise, and the trials it makes. Every problem is collected with its file
// and line before anything trains.
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "cerebra/error.h"
#include "cerebra/experiments.h"

namespace cerebra {

using nlohmann::json;

namespace {

const std::vector<std::string> kSweepKeys = {"method", "budget", "metric", "goal", "eta", "min_epochs", "seed",
                                              "parameters"};
const std::vector<std::string> kRangeKinds = {"values", "uniform", "log_uniform", "int_uniform"};

bool is_number(const ConfigNode& node) {
  return node.kind == ConfigNode::Kind::Int || node.kind == ConfigNode::Kind::Float;
}
double number(const ConfigNode& node) {
  return node.kind == ConfigNode::Kind::Int ? static_cast<double>(node.integer) : node.floating;
}

// Collects problems as "[sweep] ...: ..." at the value's place in the file.
struct Problems {
  std::vector<Diagnostic> list;
  void add(const ConfigNode& node, const std::string& message) { list.push_back({node.where, message}); }
};

void parse_values(const std::string& key, const ConfigNode& node, SweepParameter& p, Problems& problems) {
  if (node.items.empty()) problems.add(node, fmt::format("[sweep.parameters] '{}': empty list of values", key));
  for (const auto& item : node.items) {
    if (item.is_table() || item.is_array()) {
      problems.add(item, fmt::format("[sweep.parameters] '{}': a value must be a number, string or boolean, found {}",
                                     key, item.type_name()));
    }
  }
  p.kind = SweepParameter::Kind::Values;
  p.values = node.items;
}

void parse_range(const std::string& key, const std::string& kind, const ConfigNode& node, SweepParameter& p,
                 Problems& problems) {
  const std::string what = fmt::format("[sweep.parameters] '{}': {}", key, kind);
  if (!node.is_array() || node.items.size() != 2 || !is_number(node.items[0]) || !is_number(node.items[1])) {
    problems.add(node, what + " must be [low, high], two numbers, found " +
                           (node.is_array() ? std::to_string(node.items.size()) + " item(s)" : node.type_name()));
    return;
  }
  p.low = number(node.items[0]);
  p.high = number(node.items[1]);
  p.kind = kind == "uniform" ? SweepParameter::Kind::Uniform
           : kind == "log_uniform" ? SweepParameter::Kind::LogUniform : SweepParameter::Kind::IntUniform;
  if (p.low > p.high || (p.kind != SweepParameter::Kind::IntUniform && p.low == p.high)) {
    problems.add(node, fmt::format("{} [{}, {}] is an empty range (low must be below high)", what, p.low, p.high));
  }
  if (p.kind == SweepParameter::Kind::LogUniform && p.low <= 0) {
    problems.add(node, fmt::format("{} needs low > 0, found {}", what, p.low));
  }
  if (p.kind == SweepParameter::Kind::IntUniform &&
      (node.items[0].kind != ConfigNode::Kind::Int || node.items[1].kind != ConfigNode::Kind::Int)) {
    problems.add(node, what + " needs two integers");
  }
}

// A table under [sweep.parameters] is either a range ({uniform = [a, b]}) or,
// when it holds none of the range keys, a section of keys (optimizer.learning_rate
// written unquoted makes the table `optimizer`).
void collect_parameters(const ConfigNode& table, const std::string& prefix, SweepSpec& spec, Problems& problems) {
  for (const auto& [name, node] : table.entries) {
    const std::string key = prefix.empty() ? name : prefix + "." + name;
    SweepParameter p;
    p.key = key;
    p.where = node.where;
    if (node.is_array()) {
      parse_values(key, node, p, problems);
    } else if (node.is_table() && std::any_of(node.entries.begin(), node.entries.end(), [](const auto& e) {
                 return std::count(kRangeKinds.begin(), kRangeKinds.end(), e.first) > 0;
               })) {
      if (node.entries.size() != 1) {
        problems.add(node, fmt::format("[sweep.parameters] '{}': give exactly one of values, uniform, log_uniform, "
                                       "int_uniform",
                                       key));
        continue;
      }
      const auto& [kind, range] = node.entries.front();
      if (kind == "values") {
        if (!range.is_array()) {
          problems.add(range, fmt::format("[sweep.parameters] '{}': values must be a list, found {}", key,
                                          range.type_name()));
        } else {
          parse_values(key, range, p, problems);
        }
      } else {
        parse_range(key, kind, range, p, problems);
      }
    } else if (node.is_table()) {
      collect_parameters(node, key, spec, problems);
      continue;
    } else {
      problems.add(node, fmt::format("[sweep.parameters] '{}': expected a list of values or a table "
                                     "({{values = [...]}}, {{uniform = [low, high]}}, {{log_uniform = [low, high]}} or "
                                     "{{int_uniform = [low, high]}}), found {}",
                                     key, node.type_name()));
      continue;
    }
    if (key.find('.') == std::string::npos) {
      problems.add(node, fmt::format("[sweep.parameters] '{}': name a pipeline key as section.key "
                                     "(optimizer.learning_rate)",
                                     key));
    } else if (key == "run.output" || key == "run.name" || key == "training.epochs") {
      problems.add(node, fmt::format("[sweep.parameters] '{}' is set by the sweep itself and cannot be swept", key));
    }
    spec.parameters.push_back(std::move(p));
  }
}

// Reads an integer setting of [sweep] at least `minimum`.
void read_int(const ConfigNode& node, const std::string& key, std::int64_t minimum, std::int64_t& out,
              Problems& problems) {
  if (node.kind != ConfigNode::Kind::Int) {
    problems.add(node, fmt::format("[sweep] {} must be an integer, found {}", key, node.type_name()));
  } else if (node.integer < minimum) {
    problems.add(node, fmt::format("[sweep] {} must be at least {}, found {}", key, minimum, node.integer));
  } else {
    out = node.integer;
  }
}

void read_choice(const ConfigNode& node, const std::string& key, const std::vector<std::string>& choices,
                 std::string& out, Problems& problems) {
  if (node.kind != ConfigNode::Kind::String) {
    problems.add(node, fmt::format("[sweep] {} must be a string, found {}", key, node.type_name()));
  } else if (!choices.empty() && std::count(choices.begin(), choices.end(), node.string) == 0) {
    problems.add(node, fmt::format("[sweep] {} must be one of {}, found \"{}\"", key, join(choices), node.string));
  } else if (node.string.empty()) {
    problems.add(node, fmt::format("[sweep] {} must not be empty", key));
  } else {
    out = node.string;
  }
}

}  // namespace

SweepSpec parse_sweep(const ConfigNode& root, const std::string& file) {
  const ConfigNode* sweep = root.find("sweep");
  if (!sweep) throw ConfigError({{{file, 0, 0}, "no [sweep] table: cerebra sweep needs one (docs/experiments.md)"}});
  Problems problems;
  if (!sweep->is_table()) {
    problems.add(*sweep, "sweep must be a table, found " + sweep->type_name());
    throw ConfigError(problems.list);
  }
  SweepSpec spec;
  std::int64_t budget = 0, eta = spec.eta, min_epochs = spec.min_epochs, seed = 0;
  std::string goal = "max";
  bool has_parameters = false;
  for (const auto& [key, node] : sweep->entries) {
    if (key == "method") read_choice(node, key, {"grid", "random"}, spec.method, problems);
    else if (key == "budget") read_int(node, key, 1, budget, problems);
    else if (key == "metric") read_choice(node, key, {}, spec.metric, problems);
    else if (key == "goal") read_choice(node, key, {"max", "min"}, goal, problems);
    else if (key == "eta") read_int(node, key, 2, eta, problems);
    else if (key == "min_epochs") read_int(node, key, 1, min_epochs, problems);
    else if (key == "seed") read_int(node, key, 0, seed, problems);
    else if (key == "parameters") {
      has_parameters = true;
      if (!node.is_table()) problems.add(node, "[sweep] parameters must be a table, found " + node.type_name());
      else collect_parameters(node, "", spec, problems);
    } else {
      problems.add(node, fmt::format("[sweep]: unknown key '{}'{}; known: {}", key, did_you_mean(key, kSweepKeys),
                                     join(kSweepKeys)));
    }
  }
  spec.budget = static_cast<int>(budget);
  spec.eta = static_cast<int>(eta);
  spec.min_epochs = static_cast<int>(min_epochs);
  spec.seed = static_cast<std::uint64_t>(seed);
  spec.maximise = goal == "max";
  if (has_parameters && spec.parameters.empty() && problems.list.empty()) {
    problems.add(*sweep, "[sweep.parameters] is empty: name at least one pipeline key to sweep");
  }
  if (!has_parameters) problems.add(*sweep, "[sweep] has no parameters table ([sweep.parameters])");
  for (const auto& p : spec.parameters) {
    if (spec.method == "grid" && p.kind != SweepParameter::Kind::Values) {
      problems.add(*sweep, fmt::format("[sweep] method = \"grid\" needs lists of values; '{}' is a range "
                                       "(use method = \"random\")",
                                       p.key));
    }
  }
  if (spec.method == "random" && spec.budget == 0) {
    problems.add(*sweep, "[sweep] method = \"random\" needs a budget (the number of trials)");
  }
  if (!problems.list.empty()) throw ConfigError(problems.list);
  return spec;
}

}  // namespace cerebra
