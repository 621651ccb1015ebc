// `cerebra export`: a run's best checkpoint as files the Python ecosystem
// reads, with the model card beside them.
#include "cerebra/export.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include <fmt/format.h>

#include "../training/trained_run.h"
#include "cerebra/files.h"
#include "cerebra/weights.h"
#include "export_parts.h"

namespace cerebra {

namespace fs = std::filesystem;

// Each module's own tensors, then its children's: torchvision's order.
// Inception v3's transform_input is left out: torchvision takes it as a
// constructor argument (python_module.cpp), not as a tensor.
StateDict exported_state_dict(ClassifierModel& model) {
  std::set<std::string> settings;
  for (const auto& [name, value] : model.published_weights_settings()) settings.insert(name);
  StateDict state;
  for (const auto& item : model.named_modules("", /*include_self=*/true)) {
    const std::string prefix = item.key().empty() ? "" : item.key() + ".";
    auto add = [&](const std::string& name, const torch::Tensor& tensor) {
      if (!tensor.defined() || settings.count(prefix + name)) return;
      state.emplace_back(prefix + name, tensor.detach().to(torch::kCPU).contiguous());
    };
    for (const auto& parameter : item.value()->named_parameters(/*recurse=*/false)) add(parameter.key(), parameter.value());
    for (const auto& buffer : item.value()->named_buffers(/*recurse=*/false)) add(buffer.key(), buffer.value());
  }
  return state;
}

const std::vector<std::string>& export_formats() {
  static const std::vector<std::string> formats{"pth", "safetensors", "torchscript"};
  return formats;
}

ExportResult export_run(const std::string& run_dir, const Registry& registry, const std::string& format,
                        const std::string& out) {
  const auto& formats = export_formats();
  if (std::find(formats.begin(), formats.end(), format) == formats.end()) {
    throw Error(fmt::format("unknown export format '{}' (known: {})", format, fmt::join(formats, ", ")));
  }
  std::error_code error;
  if (fs::is_directory(out, error)) throw Error(out + ": is a folder; --out names the file to write");

  OpenRunOptions options;
  options.device = "cpu";
  TrainedRun run(run_dir, registry, options);
  TrainedRun::Impl& impl = detail::TrainedRunAccess::of(run);
  ClassifierModel& model = *impl.model;
  model.eval();
  const StateDict state = exported_state_dict(model);

  std::string bytes;
  if (format == "pth") {
    bytes = torch_state_dict_bytes(state);
  } else if (format == "safetensors") {
    bytes = safetensors_bytes(state);
  } else {
    bytes = detail::torchscript_bytes(model, impl.pipeline.model.name);
  }

  detail::ModelCardFacts facts;
  facts.file = fs::path(out).filename().string();
  facts.format = format;
  facts.tensors = state.size();
  facts.python = detail::python_module(impl.pipeline.model, model, run.class_names().size());
  const std::string card = detail::model_card(*impl.directory, impl.pipeline, facts);

  ExportResult result;
  result.file = out;
  result.model_card = (fs::path(out).parent_path() / "MODEL_CARD.md").string();
  result.tensors = state.size();
  result.python_module = facts.python.expression;
  // Each whole or not at all; the card last, so it never describes a file that is not there.
  write_file_atomically(out, bytes);
  write_file_atomically(result.model_card, card);
  return result;
}

}  // namespace cerebra
