// TorchScript export. LibTorch cannot trace or script a C++ nn::Module, so
// the model is mirrored: a torch::jit::Module tree with the same submodule
// names and tensors, each module's forward written as TorchScript source and
// compiled with define(). Layers (convolution, batch norm, linear, pooling,
// ReLU, dropout, Sequential) are mirrored from their options; what only an
// architecture knows (how its blocks connect) is a forward per architecture
// below. The forwards are evaluation mode: batch norm uses its running
// statistics and dropout is the identity.
#include <functional>
#include <sstream>

#include <fmt/format.h>
#include <torch/script.h>

#include "export_parts.h"

namespace cerebra::detail {

namespace {

namespace nn = torch::nn;

// The architecture's own forward for the module at `path` (its class: the
// whole model at ""), or "" for a layer mirrored from its options.
using ArchitectureForward = std::function<std::string(const std::string& path, nn::Module& module)>;

std::string pair(torch::IntArrayRef values) { return fmt::format("[{}]", fmt::join(values, ", ")); }

// define() compiles without Python's frontend, which is what makes a
// submodule callable: submodules are called through their forward.
std::string forward(const std::string& body) { return "def forward(self, x):\n" + body; }

// Layers, from their options.
std::string layer_forward(const std::string& path, nn::Module& module) {
  if (auto* conv = module.as<nn::Conv2d>()) {
    const auto& options = conv->options;
    const auto* padding = c10::get_if<torch::ExpandingArray<2>>(&options.padding());
    if (!padding || !c10::get_if<torch::enumtype::kZeros>(&options.padding_mode())) {
      throw Error("torchscript export: convolution '" + path + "' has a padding mode it does not cover");
    }
    return forward(fmt::format("    return torch.conv2d(x, self.weight, {}, {}, {}, {}, {})\n",
                               options.bias() ? "self.bias" : "None", pair(*options.stride()), pair(**padding),
                               pair(*options.dilation()), options.groups()));
  }
  if (auto* norm = module.as<nn::BatchNorm2d>()) {
    return forward(fmt::format("    return torch.batch_norm(x, self.weight, self.bias, self.running_mean, "
                               "self.running_var, False, 0.0, {}, False)\n",
                               norm->options.eps()));
  }
  if (module.as<nn::Linear>()) return forward("    return torch.linear(x, self.weight, self.bias)\n");
  if (module.as<nn::ReLU>()) return forward("    return torch.relu(x)\n");
  if (module.as<nn::Dropout>()) return forward("    return x\n");
  if (auto* pool = module.as<nn::MaxPool2d>()) {
    const auto& options = pool->options;
    return forward(fmt::format("    return torch.max_pool2d(x, {}, {}, {}, {}, {})\n", pair(*options.kernel_size()),
                               pair(*options.stride()), pair(*options.padding()), pair(*options.dilation()),
                               options.ceil_mode() ? "True" : "False"));
  }
  if (auto* pool = module.as<nn::AdaptiveAvgPool2d>()) {
    std::vector<std::int64_t> size;
    for (const auto& side : *pool->options.output_size()) {
      if (!side) throw Error("torchscript export: adaptive pool '" + path + "' has an open output size");
      size.push_back(*side);
    }
    return forward(fmt::format("    return torch.adaptive_avg_pool2d(x, {})\n", pair(size)));
  }
  if (auto* sequential = module.as<nn::Sequential>()) {
    std::string body;
    for (std::size_t i = 0; i < sequential->size(); ++i) {
      body += fmt::format("    x = getattr(self, \"{}\").forward(x)\n", i);
    }
    return forward(body + "    return x\n");
  }
  return "";
}

std::string cnn_forward(const std::string& path, nn::Module&) {
  if (!path.empty()) return "";
  return forward(
      "    x = torch.max_pool2d(torch.relu(self.conv1.forward(x)), [2, 2])\n"
      "    x = torch.max_pool2d(torch.relu(self.conv2.forward(x)), [2, 2])\n"
      "    x = torch.max_pool2d(torch.relu(self.conv3.forward(x)), [2, 2])\n"
      "    x = torch.relu(self.fc1.forward(torch.flatten(x, 1)))\n"
      "    return self.fc2.forward(self.dropout.forward(x))\n");
}

std::string vgg16_forward(const std::string& path, nn::Module&) {
  if (!path.empty()) return "";
  return forward("    return self.classifier.forward(torch.flatten(self.avgpool.forward(self.features.forward(x)), 1))\n");
}

std::string resnet50_forward(const std::string& path, nn::Module& module) {
  if (path.empty()) {
    return forward(
        "    x = self.maxpool.forward(torch.relu(self.bn1.forward(self.conv1.forward(x))))\n"
        "    x = self.layer4.forward(self.layer3.forward(self.layer2.forward(self.layer1.forward(x))))\n"
        "    return self.fc.forward(self.dropout.forward(torch.flatten(self.avgpool.forward(x), 1)))\n");
  }
  // A bottleneck block: layerN.M.
  if (path.rfind("layer", 0) == 0 && path.find('.') != std::string::npos &&
      path.find('.', path.find('.') + 1) == std::string::npos) {
    const bool downsample = module.named_children().contains("downsample");
    return forward(fmt::format(
        "    out = torch.relu(self.bn1.forward(self.conv1.forward(x)))\n"
        "    out = torch.relu(self.bn2.forward(self.conv2.forward(out)))\n"
        "    out = self.bn3.forward(self.conv3.forward(out))\n"
        "    return torch.relu(out + {})\n",
        downsample ? "self.downsample.forward(x)" : "x"));
  }
  return "";
}

ArchitectureForward architecture_forward(const std::string& architecture) {
  if (architecture == "cnn") return cnn_forward;
  if (architecture == "vgg16") return vgg16_forward;
  if (architecture == "resnet50") return resnet50_forward;
  throw Error("torchscript export does not cover the architecture '" + architecture +
              "' (it covers cnn, resnet50 and vgg16); export it as pth or safetensors");
}

torch::jit::Module mirror(const std::string& path, nn::Module& module, const ArchitectureForward& own_forward,
                          const std::shared_ptr<torch::jit::CompilationUnit>& unit) {
  torch::jit::Module scripted(c10::QualifiedName("__torch__.cerebra.Exported"), unit, /*shouldMangle=*/true);
  for (const auto& parameter : module.named_parameters(/*recurse=*/false)) {
    scripted.register_parameter(parameter.key(), parameter.value().detach().to(torch::kCPU).contiguous().clone(),
                                /*is_buffer=*/false);
  }
  for (const auto& buffer : module.named_buffers(/*recurse=*/false)) {
    scripted.register_buffer(buffer.key(), buffer.value().detach().to(torch::kCPU).contiguous().clone());
  }
  for (const auto& child : module.named_children()) {
    const std::string child_path = path.empty() ? child.key() : path + "." + child.key();
    scripted.register_module(child.key(), mirror(child_path, *child.value(), own_forward, unit));
  }
  std::string source = own_forward(path, module);
  if (source.empty()) source = layer_forward(path, module);
  if (source.empty()) {
    throw Error("torchscript export: no TorchScript for module '" + path + "' (" + module.name() + ")");
  }
  scripted.define(source);
  return scripted;
}

}  // namespace

std::string torchscript_bytes(ClassifierModel& model, const std::string& architecture) {
  auto own_forward = architecture_forward(architecture);
  auto unit = std::make_shared<torch::jit::CompilationUnit>();
  torch::jit::Module scripted = mirror("", model, own_forward, unit);
  scripted.eval();
  std::ostringstream out;
  scripted.save(out);
  return out.str();
}

}  // namespace cerebra::detail
