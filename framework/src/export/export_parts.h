// What export_run shares with its parts: the Python module an exported state
// dict loads into, the TorchScript mirror of a model, and the model card.
// Internal to the framework library; needs torch.
#pragma once

#include <cstddef>
#include <string>

#include "cerebra/architecture.h"
#include "cerebra/pipeline.h"
#include "cerebra/run_directory.h"

namespace cerebra::detail {

// How Python builds the module an exported state dict loads into, strict.
struct PythonModule {
  std::string expression;  // e.g. "torchvision.models.resnet50(num_classes=2)"; "" when unknown
  std::string definition;  // the imports (and any class) the expression needs
};

// For the architectures Cerebra ships (cnn, resnet50, vgg16, inception_v3);
// another architecture gets an empty expression.
PythonModule python_module(const ComponentConfig& model_config, ClassifierModel& model, std::size_t classes);

// A TorchScript module with `model`'s tensors under the same names whose
// forward computes the model's logits in evaluation mode (torch.jit.load's
// archive). Error naming the architecture when it is not covered.
std::string torchscript_bytes(ClassifierModel& model, const std::string& architecture);

struct ModelCardFacts {
  std::string file;    // the export's file name, beside the card
  std::string format;  // pth, safetensors or torchscript
  std::size_t tensors = 0;
  PythonModule python;
};

// MODEL_CARD.md: the run's data, split, metrics (with their 95% intervals
// where summary.json has them), preprocessing, how to load the file in
// Python, intended use and limits.
std::string model_card(const RunDirectory& run, const Pipeline& pipeline, const ModelCardFacts& facts);

}  // namespace cerebra::detail
