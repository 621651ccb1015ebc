// Exporting a trained run for the Python ecosystem: its best checkpoint as a
// state dict with torchvision's parameter names (torch.save's .pth, or
// safetensors), or as a TorchScript module, with a model card beside it.
// No torch here (framework/src/export has the rest).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "cerebra/registry.h"

namespace cerebra {

// "pth", "safetensors", "torchscript".
const std::vector<std::string>& export_formats();

struct ExportResult {
  std::string file;        // the model file written
  std::string model_card;  // MODEL_CARD.md beside it
  std::size_t tensors = 0; // tensors in the file
  // The Python expression that builds the module the state dict loads into
  // (strict), e.g. "torchvision.models.resnet50(num_classes=2)"; the model
  // card gives it with the code it needs.
  std::string python_module;
};

// Writes `run_dir`'s best checkpoint to `out` in `format`, as contiguous
// (NCHW) float tensors on the CPU, and MODEL_CARD.md in the same folder.
// Each file is written whole or not at all (a temporary file renamed over
// it). Throws Error for an unknown format (listing the known ones), a run
// without a checkpoint (naming it), an architecture TorchScript export does
// not cover, or a file that cannot be written (naming it and the reason).
ExportResult export_run(const std::string& run_dir, const Registry& registry, const std::string& format,
                        const std::string& out);

}  // namespace cerebra
