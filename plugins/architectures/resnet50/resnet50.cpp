// ResNet-50 exactly as torchvision 0.14 builds it (Bottleneck blocks,
// expansion 4, stride on the 3x3 convolution, "ResNet v1.5"), with
// torchvision's module names so that published ImageNet weights
// (resnet50-0676ba61.pth / resnet50-11ad3fa6.pth, timm's resnet50) load by
// name: conv1, bn1, layerN.M.{conv,bn}{1,2,3}, layerN.0.downsample.{0,1}, fc.
#include <cerebra/architecture.h>
#include <cerebra/batch_dropout.h>
#include <cerebra/plugin_abi.h>

namespace {

namespace nn = torch::nn;

nn::Conv2d conv(std::int64_t in, std::int64_t out, std::int64_t kernel, std::int64_t stride,
                std::int64_t padding) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding).bias(false));
}

class BottleneckImpl : public nn::Module {
 public:
  static constexpr std::int64_t expansion = 4;

  BottleneckImpl(std::int64_t in_channels, std::int64_t planes, std::int64_t stride) {
    const std::int64_t out_channels = planes * expansion;
    conv1 = register_module("conv1", conv(in_channels, planes, 1, 1, 0));
    bn1 = register_module("bn1", nn::BatchNorm2d(planes));
    conv2 = register_module("conv2", conv(planes, planes, 3, stride, 1));
    bn2 = register_module("bn2", nn::BatchNorm2d(planes));
    conv3 = register_module("conv3", conv(planes, out_channels, 1, 1, 0));
    bn3 = register_module("bn3", nn::BatchNorm2d(out_channels));
    if (stride != 1 || in_channels != out_channels) {
      downsample = register_module(
          "downsample",
          nn::Sequential(conv(in_channels, out_channels, 1, stride, 0), nn::BatchNorm2d(out_channels)));
    }
  }

  torch::Tensor forward(const torch::Tensor& input) {
    // In place, as torchvision does: fewer temporaries to allocate and stream
    // through memory on every step.
    auto out = bn1->forward(conv1->forward(input)).relu_();
    out = bn2->forward(conv2->forward(out)).relu_();
    out = bn3->forward(conv3->forward(out));
    out += downsample ? downsample->forward(input) : input;
    return out.relu_();
  }

  nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
  nn::Sequential downsample{nullptr};
};
TORCH_MODULE(Bottleneck);

class ResNet50Model : public cerebra::ClassifierModel {
 public:
  ResNet50Model(std::int64_t num_classes, double dropout, bool zero_init_residual) {
    conv1 = register_module("conv1", conv(3, 64, 7, 2, 3));
    bn1 = register_module("bn1", nn::BatchNorm2d(64));
    maxpool = register_module("maxpool", nn::MaxPool2d(nn::MaxPool2dOptions(3).stride(2).padding(1)));
    std::int64_t channels = 64;
    layer1 = register_module("layer1", make_layer(channels, 64, 3, 1));
    layer2 = register_module("layer2", make_layer(channels, 128, 4, 2));
    layer3 = register_module("layer3", make_layer(channels, 256, 6, 2));
    layer4 = register_module("layer4", make_layer(channels, 512, 3, 2));
    avgpool = register_module("avgpool", nn::AdaptiveAvgPool2d(nn::AdaptiveAvgPool2dOptions(1)));
    // torchvision has no dropout here; with p = 0 it is the identity, and it
    // owns no parameters, so state-dict names are unaffected either way.
    this->dropout = register_module("dropout", cerebra::BatchDropout(dropout));
    fc = register_module("fc", nn::Linear(512 * BottleneckImpl::expansion, num_classes));
    initialise(zero_init_residual);
  }

  torch::Tensor features(const torch::Tensor& input) override {
    return pooled(forward_to_gradcam_layer(input));
  }
  // Grad-CAM's layer is layer4.
  torch::Tensor forward_to_gradcam_layer(const torch::Tensor& input) override {
    auto x = maxpool->forward(bn1->forward(conv1->forward(input)).relu_());
    return layer4->forward(layer3->forward(layer2->forward(layer1->forward(x))));
  }
  torch::Tensor forward_from_gradcam_layer(const torch::Tensor& activation) override {
    return head(pooled(activation));
  }
  torch::Tensor head(const torch::Tensor& features) override {
    return fc->forward(dropout->forward(features));
  }

 private:
  torch::Tensor pooled(const torch::Tensor& layer4_output) {
    return torch::flatten(avgpool->forward(layer4_output), 1);
  }

  static nn::Sequential make_layer(std::int64_t& channels, std::int64_t planes,
                                   std::int64_t blocks, std::int64_t stride) {
    nn::Sequential layer;
    for (std::int64_t i = 0; i < blocks; ++i) {
      layer->push_back(Bottleneck(channels, planes, i == 0 ? stride : 1));
      channels = planes * BottleneckImpl::expansion;
    }
    return layer;
  }

  // torchvision's ResNet.__init__ initialisation: He-normal (fan_out) for
  // convolutions, unit-scale batch norms; the linear layer keeps PyTorch's
  // default (uniform), as torchvision leaves it.
  void initialise(bool zero_init_residual) {
    torch::NoGradGuard no_grad;
    for (auto& module : modules(/*include_self=*/false)) {
      if (auto* c = module->as<nn::Conv2d>()) {
        nn::init::kaiming_normal_(c->weight, 0.0, torch::kFanOut, torch::kReLU);
      } else if (auto* bn = module->as<nn::BatchNorm2d>()) {
        nn::init::ones_(bn->weight);
        nn::init::zeros_(bn->bias);
      }
    }
    // Each residual branch then starts as the identity, which helps training
    // from scratch (Goyal et al., 2017).
    if (zero_init_residual) {
      for (auto& module : modules(false)) {
        if (auto* block = module->as<BottleneckImpl>()) nn::init::zeros_(block->bn3->weight);
      }
    }
  }

  nn::Conv2d conv1{nullptr};
  nn::BatchNorm2d bn1{nullptr};
  nn::MaxPool2d maxpool{nullptr};
  nn::Sequential layer1{nullptr}, layer2{nullptr}, layer3{nullptr}, layer4{nullptr};
  nn::AdaptiveAvgPool2d avgpool{nullptr};
  cerebra::BatchDropout dropout{nullptr};
  nn::Linear fc{nullptr};
};

class ResNet50 : public cerebra::Architecture {
 public:
  explicit ResNet50(const cerebra::Parameters& parameters)
      : dropout_(parameters.get_float("dropout")),
        zero_init_residual_(parameters.get_bool("zero_init_residual")) {}

  cerebra::ArchitectureInfo info() const override {
    cerebra::ArchitectureInfo info;
    info.input_size = 224;
    // Every stride-2 layer is padded, so even 1x1 gives a 1x1 map, and the
    // adaptive pool takes any map. (Batch norm in training still needs more
    // than one value per channel: below 33x33, batches of one image fail.)
    info.min_input_size = 1;
    info.mean = {0.485, 0.456, 0.406};
    info.std = {0.229, 0.224, 0.225};
    info.layer_groups = {{"stem", {"conv1", "bn1"}},
                         {"layer1", {"layer1"}},
                         {"layer2", {"layer2"}},
                         {"layer3", {"layer3"}},
                         {"layer4", {"layer4"}},
                         {"head", {"fc"}}};
    info.gradcam_layer = "layer4";
    return info;
  }

  std::shared_ptr<cerebra::ClassifierModel> build(std::int64_t num_classes) const override {
    return std::make_shared<ResNet50Model>(num_classes, dropout_, zero_init_residual_);
  }

 private:
  double dropout_;
  bool zero_init_residual_;
};

void register_components(cerebra::Registry& registry) {
  cerebra::Schema schema;
  schema.add_float("dropout", 0.0,
                   "Dropout probability before the final linear layer (torchvision has none: 0)")
      .range(0.0, 1.0);
  schema.add_bool("zero_init_residual", false,
                  "Start each residual block's last batch-norm scale at zero so blocks begin as "
                  "the identity (only matters when training from scratch)");
  registry.add<ResNet50>(cerebra::kinds::architecture, "resnet50",
                         "ResNet-50 as in torchvision 0.14 (25.6M parameters, ImageNet-compatible "
                         "names)",
                         schema);
}

}  // namespace

CEREBRA_PLUGIN("resnet50", "1.0.0", "ResNet-50 architecture (torchvision layout)",
               register_components)
