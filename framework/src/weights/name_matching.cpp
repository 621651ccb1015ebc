// Matching a state dict to a model's parameters and buffers by name, and the
// report of what loaded, what kept its initial value, and why.
#include "weights_files.h"
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

// The file's tensors by name, in file order, without the "module." prefix
// that nn.DataParallel checkpoints put on every key.
struct FileTensors {
  std::map<std::string, torch::Tensor> by_name;
  std::vector<std::string> order;
  std::string stripped_prefix;
};

FileTensors index_file(const StateDict& state) {
  FileTensors file;
  for (const auto& [name, tensor] : state) {
    if (file.by_name.emplace(name, tensor).second) file.order.push_back(name);
  }
  const std::string wrapper = "module.";
  const auto wrapped = [&](const std::string& name) { return name.rfind(wrapper, 0) == 0; };
  if (file.order.empty() || !std::all_of(file.order.begin(), file.order.end(), wrapped)) return file;
  std::map<std::string, torch::Tensor> stripped;
  for (auto& name : file.order) {
    stripped[name.substr(wrapper.size())] = file.by_name[name];
    name = name.substr(wrapper.size());
  }
  file.by_name = std::move(stripped);
  file.stripped_prefix = wrapper;
  return file;
}

struct Mismatch {
  std::string name;
  std::vector<std::int64_t> file_shape, model_shape;
};

// What matching the model's tensors against the file found.
struct Matching {
  std::vector<std::pair<torch::Tensor, torch::Tensor>> copies;  // (model tensor, file tensor)
  std::vector<Mismatch> mismatches;
  std::set<std::string> used;  // file names that matched a model tensor
};

Matching match_by_name(const std::vector<std::pair<std::string, torch::Tensor>>& targets,
                       const FileTensors& file, const std::set<std::string>& implied, WeightsReport& report) {
  Matching matching;
  for (const auto& [name, target] : targets) {
    auto found = file.by_name.find(name);
    if (found == file.by_name.end()) {
      const bool counter = name.size() >= 19 && name.compare(name.size() - 19, 19, "num_batches_tracked") == 0;
      report.initialised.push_back(
          {name, counter ? "not in the file (older checkpoints omit it); left at its initial value"
                         : "not in the file; left as initialised"});
      continue;
    }
    matching.used.insert(name);
    if (found->second.sizes() != target.sizes()) {
      matching.mismatches.push_back({name, found->second.sizes().vec(), target.sizes().vec()});
      continue;
    }
    matching.copies.emplace_back(target, found->second);
    (implied.count(name) ? report.implied : report.loaded).push_back(name);
  }
  return matching;
}

bool in_head(const std::string& name, const WeightsOptions& options) {
  return detail::in_any_module(name, options.head_prefixes);
}

// A shape difference outside the declared head is an Error; inside it, the
// tensor keeps its fresh initialisation and the report says why.
void settle_mismatches(const std::vector<Mismatch>& mismatches, const std::string& source,
                       const WeightsOptions& options, WeightsReport& report) {
  for (const auto& m : mismatches) {
    if (in_head(m.name, options)) continue;
    const std::string where = options.head_prefixes.empty()
                                  ? "no head was declared, so every tensor must match"
                                  : "it lies outside the architecture's head (" + join(options.head_prefixes) + ")";
    throw Error(fmt::format("cannot load weights: '{}' has shape {} in '{}' but {} in the model, and {}{}",
                            m.name, shape_string(m.file_shape), source, shape_string(m.model_shape), where,
                            mismatches.size() > 1 ? fmt::format(" ({} tensors differ in shape)", mismatches.size())
                                                  : std::string()));
  }
  for (const auto& m : mismatches) {
    const bool class_count = m.file_shape.size() == m.model_shape.size() && !m.file_shape.empty() &&
                             std::equal(m.file_shape.begin() + 1, m.file_shape.end(), m.model_shape.begin() + 1);
    report.initialised.push_back(
        {m.name, fmt::format("classification head re-initialised: shape {} in the file, {} in the model ({})",
                             shape_string(m.file_shape), shape_string(m.model_shape),
                             class_count ? "different class count" : "the head differs in shape")});
  }
}

void check_strictly(const FileTensors& file, const std::string& source, const WeightsReport& report) {
  std::vector<std::string> missing;
  for (const auto& entry : report.initialised) {
    if (!file.by_name.count(entry.name)) missing.push_back(entry.name);
  }
  if (missing.empty() && report.unused.empty()) return;
  throw Error(fmt::format("cannot load weights from '{}' strictly: missing from the file: {}; not in the model: {}",
                          source, missing.empty() ? "(none)" : list_some(missing),
                          report.unused.empty() ? "(none)" : list_some(report.unused)));
}

}  // namespace

WeightsOptions weights_options_for(const ArchitectureInfo& info) {
  WeightsOptions options;
  if (!info.layer_groups.empty()) options.head_prefixes = info.layer_groups.back().module_prefixes;
  return options;
}

WeightsReport load_state_dict(torch::nn::Module& model, const StateDict& state,
                              const std::string& source, const WeightsOptions& options) {
  return detail::load_named_tensors(model, state, source, options, {});
}

WeightsReport detail::load_named_tensors(torch::nn::Module& model, const StateDict& state,
                                         const std::string& source, const WeightsOptions& options,
                                         const std::set<std::string>& implied) {
  WeightsReport report;
  report.file = source;
  const FileTensors file = index_file(state);
  report.stripped_prefix = file.stripped_prefix;

  std::vector<std::pair<std::string, torch::Tensor>> targets;
  for (const auto& item : model.named_parameters()) targets.emplace_back(item.key(), item.value());
  for (const auto& item : model.named_buffers()) targets.emplace_back(item.key(), item.value());

  Matching matching = match_by_name(targets, file, implied, report);
  settle_mismatches(matching.mismatches, source, options, report);
  for (const auto& name : file.order) {
    if (!matching.used.count(name)) report.unused.push_back(name);
  }
  if (report.loaded.empty()) {
    throw Error(fmt::format("cannot load weights: none of the {} tensors in '{}' match the model's "
                            "names (file has e.g. {}; model has e.g. {}); is it for another "
                            "architecture?",
                            file.order.size(), source, file.order.empty() ? "nothing" : file.order[0],
                            targets.empty() ? "nothing" : targets[0].first));
  }
  if (options.strict) check_strictly(file, source, report);

  // Only now that everything checked out, so a failed load leaves the model
  // untouched.
  torch::NoGradGuard no_grad;
  for (auto& [target, value] : matching.copies) target.copy_(value);
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
  if (!implied.empty()) {
    text += fmt::format(" Not in the file but set as published weights imply: {}.", list_some(implied));
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
