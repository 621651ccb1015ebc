// TorchScript export. LibTorch cannot trace or script a C++ nn::Module, so
// the model is mirrored: a torch::jit::Module tree with the same submodule
// names and tensors, each module's forward written as TorchScript source and
// compiled with define(). Layers (convolution, batch norm, linear, pooling,
// ReLU, dropout, Sequential) are mirrored from their options; what only an
// architecture knows (how its blocks connect) is a forward per architecture
// below. The forwards are evaluation mode: batch norm uses its running
// statistics and dropout is the identity.
#include <functional>
#include <set>
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

// Inception v3, as torchvision's (and the plugin's) blocks compute it.
std::string inception_v3_forward(const std::string& path, nn::Module& module) {
  const std::string pool_3x3_same = "torch.avg_pool2d(x, [3, 3], [1, 1], [1, 1])";
  if (path.empty()) {
    // transform_input is the model's setting, baked in as published weights and the run left it.
    auto buffers = module.named_buffers(/*recurse=*/false);
    const bool transform = buffers.contains("transform_input") && buffers["transform_input"].item<bool>();
    return forward(
        std::string(transform ? "    x = torch.cat([x[:, 0:1] * (0.229 / 0.5) + (0.485 - 0.5) / 0.5,\n"
                                "                   x[:, 1:2] * (0.224 / 0.5) + (0.456 - 0.5) / 0.5,\n"
                                "                   x[:, 2:3] * (0.225 / 0.5) + (0.406 - 0.5) / 0.5], 1)\n"
                              : "") +
        "    x = self.Conv2d_2b_3x3.forward(self.Conv2d_2a_3x3.forward(self.Conv2d_1a_3x3.forward(x)))\n"
        "    x = torch.max_pool2d(x, [3, 3], [2, 2])\n"
        "    x = self.Conv2d_4a_3x3.forward(self.Conv2d_3b_1x1.forward(x))\n"
        "    x = torch.max_pool2d(x, [3, 3], [2, 2])\n"
        "    x = self.Mixed_5d.forward(self.Mixed_5c.forward(self.Mixed_5b.forward(x)))\n"
        "    x = self.Mixed_6a.forward(x)\n"
        "    x = self.Mixed_6e.forward(self.Mixed_6d.forward(self.Mixed_6c.forward(self.Mixed_6b.forward(x))))\n"
        "    x = self.Mixed_7c.forward(self.Mixed_7b.forward(self.Mixed_7a.forward(x)))\n"
        "    x = torch.flatten(torch.adaptive_avg_pool2d(x, [1, 1]), 1)\n"
        "    return self.fc.forward(self.dropout.forward(x))\n");
  }
  auto children = module.named_children();
  if (children.size() == 2 && children.contains("conv") && children.contains("bn")) {  // BasicConv2d
    return forward("    return torch.relu(self.bn.forward(self.conv.forward(x)))\n");
  }
  if (path == "Mixed_5b" || path == "Mixed_5c" || path == "Mixed_5d") {
    return forward(
        "    b5 = self.branch5x5_2.forward(self.branch5x5_1.forward(x))\n"
        "    b3 = self.branch3x3dbl_3.forward(self.branch3x3dbl_2.forward(self.branch3x3dbl_1.forward(x)))\n"
        "    pool = self.branch_pool.forward(" + pool_3x3_same + ")\n"
        "    return torch.cat([self.branch1x1.forward(x), b5, b3, pool], 1)\n");
  }
  if (path == "Mixed_6a") {
    return forward(
        "    b3 = self.branch3x3dbl_3.forward(self.branch3x3dbl_2.forward(self.branch3x3dbl_1.forward(x)))\n"
        "    return torch.cat([self.branch3x3.forward(x), b3, torch.max_pool2d(x, [3, 3], [2, 2])], 1)\n");
  }
  if (path == "Mixed_6b" || path == "Mixed_6c" || path == "Mixed_6d" || path == "Mixed_6e") {
    return forward(
        "    b7 = self.branch7x7_3.forward(self.branch7x7_2.forward(self.branch7x7_1.forward(x)))\n"
        "    b7dbl = self.branch7x7dbl_2.forward(self.branch7x7dbl_1.forward(x))\n"
        "    b7dbl = self.branch7x7dbl_5.forward(self.branch7x7dbl_4.forward(self.branch7x7dbl_3.forward(b7dbl)))\n"
        "    pool = self.branch_pool.forward(" + pool_3x3_same + ")\n"
        "    return torch.cat([self.branch1x1.forward(x), b7, b7dbl, pool], 1)\n");
  }
  if (path == "Mixed_7a") {
    return forward(
        "    b3 = self.branch3x3_2.forward(self.branch3x3_1.forward(x))\n"
        "    b7 = self.branch7x7x3_4.forward(self.branch7x7x3_3.forward(self.branch7x7x3_2.forward(\n"
        "        self.branch7x7x3_1.forward(x))))\n"
        "    return torch.cat([b3, b7, torch.max_pool2d(x, [3, 3], [2, 2])], 1)\n");
  }
  if (path == "Mixed_7b" || path == "Mixed_7c") {
    return forward(
        "    b3 = self.branch3x3_1.forward(x)\n"
        "    b3 = torch.cat([self.branch3x3_2a.forward(b3), self.branch3x3_2b.forward(b3)], 1)\n"
        "    b3dbl = self.branch3x3dbl_2.forward(self.branch3x3dbl_1.forward(x))\n"
        "    b3dbl = torch.cat([self.branch3x3dbl_3a.forward(b3dbl), self.branch3x3dbl_3b.forward(b3dbl)], 1)\n"
        "    pool = self.branch_pool.forward(" + pool_3x3_same + ")\n"
        "    return torch.cat([self.branch1x1.forward(x), b3, b3dbl, pool], 1)\n");
  }
  if (path == "AuxLogits") {  // kept for its tensors; the evaluation-mode forward does not call it
    return forward(
        "    x = self.conv1.forward(self.conv0.forward(torch.avg_pool2d(x, [5, 5], [3, 3])))\n"
        "    return self.fc.forward(torch.flatten(torch.adaptive_avg_pool2d(x, [1, 1]), 1))\n");
  }
  return "";
}

ArchitectureForward architecture_forward(const std::string& architecture) {
  if (architecture == "cnn") return cnn_forward;
  if (architecture == "vgg16") return vgg16_forward;
  if (architecture == "resnet50") return resnet50_forward;
  if (architecture == "inception_v3") return inception_v3_forward;
  throw Error("torchscript export does not cover the architecture '" + architecture +
              "' (it covers cnn, resnet50, vgg16 and inception_v3); export it as pth or safetensors");
}

// `settings` (whole paths) are left out, as exported_state_dict leaves them:
// the forward bakes them in instead.
torch::jit::Module mirror(const std::string& path, nn::Module& module, const ArchitectureForward& own_forward,
                          const std::set<std::string>& settings,
                          const std::shared_ptr<torch::jit::CompilationUnit>& unit) {
  const std::string prefix = path.empty() ? "" : path + ".";
  torch::jit::Module scripted(c10::QualifiedName("__torch__.cerebra.Exported"), unit, /*shouldMangle=*/true);
  for (const auto& parameter : module.named_parameters(/*recurse=*/false)) {
    scripted.register_parameter(parameter.key(), parameter.value().detach().to(torch::kCPU).contiguous().clone(),
                                /*is_buffer=*/false);
  }
  for (const auto& buffer : module.named_buffers(/*recurse=*/false)) {
    if (settings.count(prefix + buffer.key())) continue;
    scripted.register_buffer(buffer.key(), buffer.value().detach().to(torch::kCPU).contiguous().clone());
  }
  for (const auto& child : module.named_children()) {
    scripted.register_module(child.key(), mirror(prefix + child.key(), *child.value(), own_forward, settings, unit));
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
  std::set<std::string> settings;
  for (const auto& [name, value] : model.published_weights_settings()) settings.insert(name);
  auto unit = std::make_shared<torch::jit::CompilationUnit>();
  torch::jit::Module scripted = mirror("", model, own_forward, settings, unit);
  scripted.eval();
  std::ostringstream out;
  scripted.save(out);
  return out.str();
}

}  // namespace cerebra::detail
