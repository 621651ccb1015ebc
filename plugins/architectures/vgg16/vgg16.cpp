// VGG16 (configuration "D", no batch norm) exactly as torchvision 0.14 builds
// it, with torchvision's module names so that its published ImageNet state
// dict (vgg16-397923af.pth) loads by name: features.N.*, classifier.N.*.
#include <cerebra/architecture.h>
#include <cerebra/batch_dropout.h>
#include <cerebra/plugin_abi.h>

namespace {

namespace nn = torch::nn;

// Output channels per convolution; 0 is a 2x2 max pool. Indices inside
// `features` follow from this list (conv, ReLU per entry; one pool per 0), so
// it must stay exactly torchvision's cfgs["D"].
constexpr std::int64_t kConfig[] = {64,  64,  0,   128, 128, 0,   256, 256, 256, 0,
                                    512, 512, 512, 0,   512, 512, 512, 0};

class Vgg16Model : public cerebra::ClassifierModel {
 public:
  Vgg16Model(std::int64_t num_classes, double dropout) {
    nn::Sequential features;
    std::int64_t channels = 3;
    for (std::int64_t out : kConfig) {
      if (out == 0) {
        features->push_back(nn::MaxPool2d(nn::MaxPool2dOptions(2).stride(2)));
      } else {
        features->push_back(nn::Conv2d(nn::Conv2dOptions(channels, out, 3).padding(1)));
        features->push_back(nn::ReLU(nn::ReLUOptions(true)));
        channels = out;
      }
    }
    features_ = register_module("features", features);
    // Adaptive, as in torchvision, so inputs other than 224 still give the
    // 7x7 map the first linear layer expects.
    avgpool_ = register_module("avgpool", nn::AdaptiveAvgPool2d(nn::AdaptiveAvgPool2dOptions(7)));
    classifier_ = register_module(
        "classifier",
        nn::Sequential(nn::Linear(512 * 7 * 7, 4096), nn::ReLU(nn::ReLUOptions(true)),
                       cerebra::BatchDropout(dropout), nn::Linear(4096, 4096),
                       nn::ReLU(nn::ReLUOptions(true)), cerebra::BatchDropout(dropout),
                       nn::Linear(4096, num_classes)));
    initialise();
  }

  torch::Tensor features(const torch::Tensor& input) override {
    return torch::flatten(avgpool_->forward(features_->forward(input)), 1);
  }
  torch::Tensor head(const torch::Tensor& features) override {
    return classifier_->forward(features);
  }

  // Grad-CAM's layer is features.29, the ReLU after the last convolution;
  // features.30 (the last pool) follows it.
  torch::Tensor forward_to_gradcam_layer(const torch::Tensor& input) override {
    return run_features(input, 0, kGradcamIndex + 1);
  }
  torch::Tensor forward_from_gradcam_layer(const torch::Tensor& activation) override {
    auto x = run_features(activation, kGradcamIndex + 1, features_->size());
    return head(torch::flatten(avgpool_->forward(x), 1));
  }

 private:
  static constexpr std::size_t kGradcamIndex = 29;

  // features[begin, end) applied in turn.
  torch::Tensor run_features(torch::Tensor x, std::size_t begin, std::size_t end) {
    for (auto it = features_->begin() + static_cast<std::ptrdiff_t>(begin);
         it != features_->begin() + static_cast<std::ptrdiff_t>(end); ++it) {
      x = it->forward(x);
    }
    return x;
  }

  // torchvision's VGG._initialize_weights, so training from scratch starts
  // where torchvision's would.
  void initialise() {
    torch::NoGradGuard no_grad;
    for (auto& module : modules(/*include_self=*/false)) {
      if (auto* conv = module->as<nn::Conv2d>()) {
        nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut, torch::kReLU);
        nn::init::zeros_(conv->bias);
      } else if (auto* linear = module->as<nn::Linear>()) {
        nn::init::normal_(linear->weight, 0.0, 0.01);
        nn::init::zeros_(linear->bias);
      }
    }
  }

  nn::Sequential features_{nullptr}, classifier_{nullptr};
  nn::AdaptiveAvgPool2d avgpool_{nullptr};
};

class Vgg16 : public cerebra::Architecture {
 public:
  explicit Vgg16(const cerebra::Parameters& parameters)
      : dropout_(parameters.get_float("dropout")) {}

  cerebra::ArchitectureInfo info() const override {
    cerebra::ArchitectureInfo info;
    info.input_size = 224;
    // Five 2x2 pools need 32 pixels for a 1x1 map; the adaptive pool makes
    // the 7x7 the classifier expects from any map.
    info.min_input_size = 32;
    info.mean = {0.485, 0.456, 0.406};
    info.std = {0.229, 0.224, 0.225};
    // One group per convolution block, each ending with its max pool; the
    // prefixes are module paths (match on whole path components).
    std::int64_t index = 0;
    int block = 1;
    cerebra::LayerGroup group{"block1", {}};
    for (std::int64_t out : kConfig) {
      group.module_prefixes.push_back("features." + std::to_string(index));
      index += out == 0 ? 1 : 2;
      if (out != 0) group.module_prefixes.push_back("features." + std::to_string(index - 1));
      if (out == 0) {
        info.layer_groups.push_back(group);
        group = {"block" + std::to_string(++block), {}};
      }
    }
    info.layer_groups.push_back({"classifier", {"classifier"}});
    // The ReLU after the last convolution: the last full-resolution (14x14 at
    // 224) activation before the final pool, where Grad-CAM maps are sharpest.
    info.gradcam_layer = "features.29";
    return info;
  }

  std::shared_ptr<cerebra::ClassifierModel> build(std::int64_t num_classes) const override {
    return std::make_shared<Vgg16Model>(num_classes, dropout_);
  }

 private:
  double dropout_;
};

void register_components(cerebra::Registry& registry) {
  cerebra::Schema schema;
  schema.add_float("dropout", 0.5, "Dropout probability after each of the classifier's two "
                                   "hidden linear layers (torchvision: 0.5)")
      .range(0.0, 1.0);
  registry.add<Vgg16>(cerebra::kinds::architecture, "vgg16",
                      "VGG16 as in torchvision 0.14 (138.4M parameters, ImageNet-compatible names)",
                      schema);
}

}  // namespace

CEREBRA_PLUGIN("vgg16", "1.0.0", "VGG16 architecture (torchvision layout)", register_components)
