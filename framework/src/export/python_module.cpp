// The Python module each architecture Cerebra ships exports into: its
// parameter names are torchvision's (the weights reader loads torchvision's
// files by name), so torchvision builds three of them; the study's CNN is not
// in torchvision, and its definition goes into the model card.
#include <fmt/format.h>

#include "export_parts.h"

namespace cerebra::detail {

namespace {

// The same module as tools/bench-train/reference.py's Cnn (whose parameter
// names tests/export checks against an export), without its initialisation.
const char* kCnnDefinition = R"(import torch
import torch.nn as nn
import torch.nn.functional as F


class Cnn(nn.Module):
    """Cerebra's `cnn` architecture: the study's proposed CNN."""

    def __init__(self, classes, size=64, dropout=0.3):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3)
        self.conv2 = nn.Conv2d(32, 32, 3)
        self.conv3 = nn.Conv2d(32, 64, 3)
        side = size
        for _ in range(3):
            side = (side - 2) // 2
        self.fc1 = nn.Linear(64 * side * side, 64)
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(64, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.max_pool2d(F.relu(self.conv3(x)), 2)
        x = F.relu(self.fc1(x.flatten(1)))
        return self.fc2(self.dropout(x))
)";

const char* python_bool(bool value) { return value ? "True" : "False"; }

bool has_tensor(torch::nn::Module& model, const std::string& name) {
  return model.named_parameters().contains(name) || model.named_buffers().contains(name);
}

}  // namespace

PythonModule python_module(const ComponentConfig& model_config, ClassifierModel& model, std::size_t classes) {
  const std::string& name = model_config.name;
  if (name == "cnn") {
    return {fmt::format("Cnn(classes={}, size={})", classes, model_config.parameters.get_int("input_size")),
            kCnnDefinition};
  }
  if (name == "resnet50" || name == "vgg16") {
    return {fmt::format("torchvision.models.{}(num_classes={})", name, classes), "import torch\nimport torchvision\n"};
  }
  if (name == "inception_v3") {
    // transform_input is the model's buffer (set when published weights were
    // loaded), not a tensor of the export: torchvision takes it as an argument.
    auto buffers = model.named_buffers();
    const bool transform = buffers.contains("transform_input") && buffers["transform_input"].item<bool>();
    return {fmt::format("torchvision.models.inception_v3(num_classes={}, aux_logits={}, transform_input={}, "
                        "init_weights=False)",
                        classes, python_bool(has_tensor(model, "AuxLogits.fc.weight")), python_bool(transform)),
            "import torch\nimport torchvision\n"};
  }
  return {};
}

}  // namespace cerebra::detail
