// The trials a [sweep] makes and the rungs at which successive halving ranks
// them. Draws use the project's portable generator, so a sweep resumed on
// another machine makes the same trials (the ledger keeps them anyway).
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "../data/seeding.h"
#include "cerebra/experiments.h"

namespace cerebra {

using nlohmann::json;
using Assignment = std::vector<std::pair<std::string, ConfigNode>>;

namespace {

ConfigNode float_value(double value) {
  ConfigNode node;
  node.kind = ConfigNode::Kind::Float;
  node.floating = value;
  return node;
}

// A uniform double in [0, 1) from the generator's top 53 bits.
double unit(std::uint64_t& state) { return static_cast<double>(detail::splitmix64(state) >> 11) * 0x1.0p-53; }

ConfigNode draw(const SweepParameter& p, std::uint64_t& state) {
  switch (p.kind) {
    case SweepParameter::Kind::Values:
      return p.values[static_cast<std::size_t>(detail::bounded(state, p.values.size()))];
    case SweepParameter::Kind::Uniform:
      return float_value(p.low + (p.high - p.low) * unit(state));
    case SweepParameter::Kind::LogUniform:
      return float_value(std::exp(std::log(p.low) + (std::log(p.high) - std::log(p.low)) * unit(state)));
    case SweepParameter::Kind::IntUniform: {
      ConfigNode node;
      node.kind = ConfigNode::Kind::Int;
      const auto span = static_cast<std::uint64_t>(p.high - p.low + 1);
      node.integer = static_cast<std::int64_t>(p.low) + static_cast<std::int64_t>(detail::bounded(state, span));
      return node;
    }
  }
  return {};
}

std::vector<Assignment> grid(const SweepSpec& spec) {
  std::vector<Assignment> trials;
  std::vector<std::size_t> digit(spec.parameters.size(), 0);
  while (true) {
    Assignment trial;
    for (std::size_t i = 0; i < digit.size(); ++i) {
      trial.emplace_back(spec.parameters[i].key, spec.parameters[i].values[digit[i]]);
    }
    trials.push_back(std::move(trial));
    // The last key changes fastest, like nested loops in the order written.
    std::size_t i = digit.size();
    while (i > 0 && ++digit[i - 1] == spec.parameters[i - 1].values.size()) digit[--i] = 0;
    if (i == 0) return trials;
  }
}

}  // namespace

std::vector<Assignment> sweep_trials(const SweepSpec& spec) {
  if (spec.method == "grid") {
    std::vector<Assignment> all = grid(spec);
    if (spec.budget == 0 || static_cast<std::size_t>(spec.budget) >= all.size()) return all;
    std::vector<std::size_t> order(all.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    detail::portable_shuffle(order, detail::mix_seed({spec.seed, 0x9a1dull}));
    order.resize(static_cast<std::size_t>(spec.budget));
    std::sort(order.begin(), order.end());
    std::vector<Assignment> chosen;
    for (std::size_t i : order) chosen.push_back(all[i]);
    return chosen;
  }
  std::vector<Assignment> trials;
  for (int t = 0; t < spec.budget; ++t) {
    Assignment trial;
    for (std::size_t i = 0; i < spec.parameters.size(); ++i) {
      std::uint64_t state = detail::mix_seed({spec.seed, static_cast<std::uint64_t>(t), i});
      trial.emplace_back(spec.parameters[i].key, draw(spec.parameters[i], state));
    }
    trials.push_back(std::move(trial));
  }
  return trials;
}

std::vector<int> sweep_rungs(const SweepSpec& spec, int epochs) {
  std::vector<int> rungs;
  for (long r = spec.min_epochs; r < epochs; r *= spec.eta) rungs.push_back(static_cast<int>(r));
  rungs.push_back(epochs);
  return rungs;
}

std::string config_value_text(const ConfigNode& value) {
  switch (value.kind) {
    case ConfigNode::Kind::Bool: return value.boolean ? "true" : "false";
    case ConfigNode::Kind::Int: return std::to_string(value.integer);
    case ConfigNode::Kind::Float: return fmt::format("{:.6g}", value.floating);
    case ConfigNode::Kind::String: return value.string;
    default: return "(" + value.type_name() + ")";
  }
}

json config_value_json(const ConfigNode& value) {
  switch (value.kind) {
    case ConfigNode::Kind::Bool: return value.boolean;
    case ConfigNode::Kind::Int: return value.integer;
    case ConfigNode::Kind::Float: return value.floating;
    case ConfigNode::Kind::String: return value.string;
    default: return nullptr;
  }
}

}  // namespace cerebra
