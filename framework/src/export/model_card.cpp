// MODEL_CARD.md beside every export: what the model was trained on and how
// well it did, what its input must be, how to load it, and what it is not for.
#include <filesystem>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cerebra/host.h"
#include "export_parts.h"

namespace cerebra::detail {

namespace {

using nlohmann::json;

std::string number(const json& value) {
  if (value.is_number()) return fmt::format("{:.4f}", value.get<double>());
  return "—";
}

std::string interval(const json& report) {
  if (!report.is_object() || !report.contains("ci95") || !report["ci95"].is_array() || report["ci95"].size() != 2) {
    return "—";
  }
  return fmt::format("[{}, {}]", number(report["ci95"][0]), number(report["ci95"][1]));
}

void metrics_table(std::ostringstream& out, const json& metrics) {
  out << "| metric | value | which figure | 95% interval |\n| --- | --- | --- | --- |\n";
  for (const auto& [name, report] : metrics.items()) {
    if (!report.is_object()) continue;
    out << "| " << name << " | " << number(report.value("value", json())) << " | "
        << report.value("average", std::string("")) << " | " << interval(report) << " |\n";
  }
}

std::string loading_code(const ModelCardFacts& facts) {
  const std::string& file = facts.file;
  if (facts.format == "torchscript") {
    return fmt::format("import torch\n\nmodel = torch.jit.load(\"{}\")\nmodel.eval()\n", file);
  }
  if (facts.python.expression.empty()) return "";
  std::string load = facts.format == "pth"
                         ? fmt::format("torch.load(\"{}\", weights_only=True)", file)
                         : fmt::format("load_file(\"{}\")", file);
  return facts.python.definition + (facts.format == "safetensors" ? "from safetensors.torch import load_file\n" : "") +
         fmt::format("\nmodel = {}\nmodel.load_state_dict({}, strict=True)\nmodel.eval()\n", facts.python.expression,
                     load);
}

}  // namespace

std::string model_card(const RunDirectory& run, const Pipeline& pipeline, const ModelCardFacts& facts) {
  const RunSummary summary = run.read_summary();
  const json& raw = summary.raw;
  std::ostringstream out;
  out << "# Model card: " << std::filesystem::path(run.path()).filename().string() << "\n\n"
      << "Exported by Cerebra " << version() << " (`cerebra export --format " << facts.format << "`) from the run\n"
      << "directory `" << run.path() << "`: its best checkpoint (epoch " << summary.best_epoch << " of "
      << summary.epochs_completed << ", by " << raw.value("monitor", std::string("the monitored metric")) << ").\n\n"
      << "| | |\n| --- | --- |\n"
      << "| file | `" << facts.file << "` (" << facts.format << ", " << facts.tensors << " tensors, float32, NCHW) |\n"
      << "| architecture | `" << pipeline.model.name << "` " << pipeline.model.parameters.to_json().dump() << " |\n"
      << "| classes | " << fmt::format("{}", fmt::join(summary.classes, ", ")) << " (logits in this order) |\n"
      << "| run status | " << summary.status << " |\n\n";

  out << "## Data\n\n"
      << "Dataset `" << pipeline.dataset.name << "` " << pipeline.dataset.parameters.to_json().dump() << ".\n";
  if (raw.value("skipped_files", 0) > 0) out << raw["skipped_files"].get<int>() << " unreadable files were skipped.\n";
  out << "\n## Split\n\n| split | images |\n| --- | --- |\n";
  for (const char* split : {"train", "val", "test"}) {
    out << "| " << split << " | " << (raw.contains("split") ? raw["split"].value(split, 0) : 0) << " |\n";
  }
  out << "\nSettings: " << pipeline.section("split").to_json().dump() << " (seed " << raw.value("seed", 0) << ").\n";

  out << "\n## Metrics\n\n";
  if (summary.test_metrics.is_object()) {
    out << "On the test split (" << raw["test"].value("images", 0) << " images";
    const auto tta = raw.value("tta", json::array());
    if (!tta.empty()) {
      out << "; averaged over the test-time variants " << tta.dump()
          << ", which the exported model does not include: it computes one pass";
    }
    out << "):\n\n";
    metrics_table(out, summary.test_metrics);
    out << "\nIntervals are bootstrap percentiles where `[evaluation] bootstrap` was set; — where not.\n";
  } else {
    out << "The run has no test evaluation (it was stopped before one).\n";
  }

  out << "\n## Preprocessing\n\n"
      << "The model takes a float32 tensor `[N, 3, H, W]`, RGB, made from each image by decoding it\n"
      << "(8-bit pixels scaled to [0, 1]) and then these stages of the run's `pipeline.toml`, in order:\n\n";
  int index = 1;
  for (const auto& stage : pipeline.preprocess) {
    out << index++ << ". `" << stage.name << "` " << stage.parameters.to_json().dump() << "\n";
  }
  if (pipeline.preprocess.empty()) out << "(none)\n";
  out << "\nTraining augmentation (not applied at inference): ";
  for (std::size_t i = 0; i < pipeline.augment.size(); ++i) {
    out << (i ? ", " : "") << "`" << pipeline.augment[i].name << "`";
  }
  out << (pipeline.augment.empty() ? "none.\n" : ".\n");

  out << "\n## Loading in Python\n\n";
  const std::string code = loading_code(facts);
  if (code.empty()) {
    out << "No Python module is known for the architecture `" << pipeline.model.name
        << "`: the state dict holds its tensors under the names its plugin registers.\n";
  } else {
    out << "```python\n" << code << "```\n\n"
        << "```python\nwith torch.no_grad():\n    probabilities = model(x).softmax(1)  # x as in Preprocessing\n```\n";
    if (facts.format != "torchscript") {
      out << "\nThe parameter names are torchvision's (Cerebra's own for `cnn`, whose module is above); the\n"
          << "state dict loads with `strict=True`. The model has no softmax: it returns logits.\n";
    }
  }

  out << "\n## Intended use and limits\n\n"
      << "- For research on brain-tumour classification of MRI slices only. It is not a medical device\n"
      << "  and must not be used for diagnosis or any decision about a patient.\n"
      << "- The figures above hold for the test split of this dataset. Images from another scanner,\n"
      << "  hospital, protocol or preprocessing (a source shift) can score much lower; measure on\n"
      << "  your own labelled data before relying on it.\n"
      << "- It knows only the classes listed above; any other finding is forced into one of them.\n"
      << "- Inputs must be preprocessed exactly as described; other sizes, channel orders or scales\n"
      << "  give meaningless outputs. Probabilities from softmax may be miscalibrated.\n";
  return out.str();
}

}  // namespace cerebra::detail
