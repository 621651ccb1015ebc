// Matching a state dict to a model's parameters and buffers by name, and the
// report of what loaded, what kept its initial value, and why.
#include "cerebra/weights.h"
#include "../module_path.h"

#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

namespace cerebra {

namespace {

std::string shape_string(c10::IntArrayRef sizes) { return fmt::format("[{}]", fmt::join(sizes, ", ")); }

using detail::in_module;

std::string list_some(const std::vector<std::string>& names, std::size_t most = 6) {
  if (names.size() <= most) return join(names);
  std::vector<std::string> shown(names.begin(), names.begin() + static_cast<std::ptrdiff_t>(most));
  return join(shown) + fmt::format(" and {} more", names.size() - most);
}

}  // namespace

WeightsReport load_state_dict(torch::nn::Module& model, const StateDict& state,
                              const std::string& source, const WeightsOptions& options) {
  WeightsReport report;
  report.file = source;

  std::map<std::string, torch::Tensor> file;
  std::vector<std::string> file_order;
  for (const auto& [name, tensor] : state) {
    if (file.emplace(name, tensor).second) file_order.push_back(name);
  }
  // nn.DataParallel checkpoints prefix every key with "module.".
  const std::string wrapper = "module.";
  if (!file_order.empty() && std::all_of(file_order.begin(), file_order.end(), [&](const std::string& n) {
        return n.rfind(wrapper, 0) == 0;
      })) {
    std::map<std::string, torch::Tensor> stripped;
    for (auto& name : file_order) {
      stripped[name.substr(wrapper.size())] = file[name];
      name = name.substr(wrapper.size());
    }
    file = std::move(stripped);
    report.stripped_prefix = wrapper;
  }

  std::vector<std::pair<std::string, torch::Tensor>> targets;
  for (const auto& item : model.named_parameters()) targets.emplace_back(item.key(), item.value());
  for (const auto& item : model.named_buffers()) targets.emplace_back(item.key(), item.value());

  struct Mismatch {
    std::string name;
    std::vector<std::int64_t> file_shape, model_shape;
  };
  std::vector<Mismatch> mismatches;
  std::vector<std::pair<torch::Tensor, torch::Tensor>> copies;
  std::set<std::string> used;
  for (const auto& [name, target] : targets) {
    auto found = file.find(name);
    if (found == file.end()) {
      report.initialised.push_back(
          {name, name.size() >= 20 && name.compare(name.size() - 20, 20, "num_batches_tracked") == 0
                     ? "not in the file (older checkpoints omit it); left at its initial value"
                     : "not in the file; left as initialised"});
      continue;
    }
    used.insert(name);
    if (found->second.sizes() != target.sizes()) {
      mismatches.push_back({name, found->second.sizes().vec(), target.sizes().vec()});
      continue;
    }
    copies.emplace_back(target, found->second);
    report.loaded.push_back(name);
  }

  if (!mismatches.empty()) {
    auto describe = [&](const Mismatch& m) {
      return fmt::format("'{}' has shape {} in '{}' but {} in the model", m.name,
                         shape_string(m.file_shape), source, shape_string(m.model_shape));
    };
    bool head_only = true;
    std::string offending;
    if (!options.head_prefixes.empty()) {
      for (const auto& m : mismatches) {
        bool in_head = false;
        for (const auto& prefix : options.head_prefixes) in_head |= in_module(m.name, prefix);
        if (!in_head && head_only) {
          head_only = false;
          offending = describe(m);
        }
      }
    } else {
      // A class-count change: rank 1-2 tensors differing only in dimension 0,
      // all by the same pair of sizes.
      const auto first = std::make_pair(mismatches[0].file_shape.empty() ? -1 : mismatches[0].file_shape[0],
                                        mismatches[0].model_shape.empty() ? -1 : mismatches[0].model_shape[0]);
      for (const auto& m : mismatches) {
        bool classes = m.file_shape.size() == m.model_shape.size() && !m.file_shape.empty() &&
                       m.file_shape.size() <= 2 &&
                       std::equal(m.file_shape.begin() + 1, m.file_shape.end(), m.model_shape.begin() + 1) &&
                       std::make_pair(m.file_shape[0], m.model_shape[0]) == first;
        if (!classes && head_only) {
          head_only = false;
          offending = describe(m);
        }
      }
    }
    if (!head_only) {
      throw Error("cannot load weights: " + offending +
                  (mismatches.size() > 1 ? fmt::format(" ({} tensors differ in shape)", mismatches.size())
                                         : std::string()));
    }
    for (const auto& m : mismatches) {
      report.initialised.push_back(
          {m.name, fmt::format("classification head re-initialised: shape {} in the file, {} in the "
                               "model (different class count)",
                               shape_string(m.file_shape), shape_string(m.model_shape))});
    }
  }

  for (const auto& name : file_order) {
    if (!used.count(name)) report.unused.push_back(name);
  }
  if (report.loaded.empty()) {
    throw Error(fmt::format("cannot load weights: none of the {} tensors in '{}' match the model's "
                            "names (file has e.g. {}; model has e.g. {}); is it for another "
                            "architecture?",
                            file_order.size(), source, file_order.empty() ? "nothing" : file_order[0],
                            targets.empty() ? "nothing" : targets[0].first));
  }
  if (options.strict) {
    std::vector<std::string> missing;
    for (const auto& entry : report.initialised) {
      if (!file.count(entry.name)) missing.push_back(entry.name);
    }
    if (!missing.empty() || !report.unused.empty()) {
      throw Error(fmt::format("cannot load weights from '{}' strictly: missing from the file: {}; "
                              "not in the model: {}",
                              source, missing.empty() ? "(none)" : list_some(missing),
                              report.unused.empty() ? "(none)" : list_some(report.unused)));
    }
  }

  // Only now that everything checked out, so a failed load leaves the model
  // untouched.
  torch::NoGradGuard no_grad;
  for (auto& [target, value] : copies) target.copy_(value);
  return report;
}

std::string WeightsReport::summary() const {
  std::vector<std::string> head, missing;
  for (const auto& entry : initialised) {
    (entry.reason.rfind("classification head", 0) == 0 ? head : missing).push_back(entry.name);
  }
  std::string text = fmt::format("Loaded {} of {} model tensors from '{}'{}", loaded.size(),
                                 loaded.size() + initialised.size(), file,
                                 format.empty() ? "" : " (" + format + ")");
  if (!stripped_prefix.empty()) text += fmt::format(", after removing the '{}' key prefix", stripped_prefix);
  text += ".";
  if (!head.empty()) {
    text += fmt::format(" The classification head ({}) was re-initialised because the file was "
                        "trained for a different number of classes.",
                        list_some(head));
  }
  if (!missing.empty()) {
    text += fmt::format(" {} tensor{} not in the file kept {} initial value{}: {}.", missing.size(),
                        missing.size() == 1 ? "" : "s", missing.size() == 1 ? "its" : "their",
                        missing.size() == 1 ? "" : "s", list_some(missing));
  }
  if (!unused.empty()) {
    text += fmt::format(" {} tensor{} in the file matched nothing in the model and {} ignored: {}.",
                        unused.size(), unused.size() == 1 ? "" : "s",
                        unused.size() == 1 ? "was" : "were", list_some(unused));
  }
  if (head.empty() && missing.empty() && unused.empty()) {
    text += " Every tensor matched by name and shape.";
  }
  return text;
}

}  // namespace cerebra
