// Inception v3 exactly as torchvision 0.14 builds it, with torchvision's
// module names so that its published ImageNet weights
// (inception_v3_google-0cc3c7bd.pth) load by name: Conv2d_1a_3x3.conv.weight,
// Mixed_5b.branch1x1.bn.running_mean, AuxLogits.fc.weight, fc.weight, ...
//
// Those weights were ported from Google's TensorFlow model, which saw pixels
// scaled to [-1, 1]; torchvision therefore turns `transform_input` on whenever
// they are used, re-expressing ImageNet-normalised input in that convention.
// The `transform_input` parameter follows it: "auto" is on exactly when
// published weights are loaded.
#include <string>

#include <cerebra/architecture.h>
#include <cerebra/batch_dropout.h>
#include <cerebra/error.h>
#include <cerebra/plugin_abi.h>

namespace {

namespace nn = torch::nn;

enum class InputTransform { Auto, On, Off };

InputTransform parse_input_transform(const std::string& setting) {
  if (setting == "on") return InputTransform::On;
  if (setting == "off") return InputTransform::Off;
  return InputTransform::Auto;  // the schema admits nothing else
}

// torchvision's Inception3._transform_input: x_c * (std_c / 0.5) + (mean_c -
// 0.5) / 0.5 per channel, with ImageNet's mean and std. The same scalars and
// operations in the same order, so the result is bit for bit torchvision's.
torch::Tensor transform_input(const torch::Tensor& x) {
  static const double mean[3] = {0.485, 0.456, 0.406};
  static const double std[3] = {0.229, 0.224, 0.225};
  std::vector<torch::Tensor> channels;
  for (std::int64_t c = 0; c < 3; ++c) {
    channels.push_back(torch::unsqueeze(x.select(1, c), 1) * (std[c] / 0.5) + (mean[c] - 0.5) / 0.5);
  }
  return torch::cat(channels, 1);
}

using Size2 = torch::ExpandingArray<2>;

// torchvision's BasicConv2d: convolution without bias, batch norm with
// TensorFlow's epsilon (0.001, as the ported weights expect), ReLU.
class BasicConv2dImpl : public nn::Module {
 public:
  BasicConv2dImpl(std::int64_t in, std::int64_t out, Size2 kernel, Size2 stride = 1,
                  Size2 padding = 0, double init_std = 0.1)
      : init_std(init_std) {
    conv = register_module(
        "conv", nn::Conv2d(nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding).bias(false)));
    bn = register_module("bn", nn::BatchNorm2d(nn::BatchNormOptions(out).eps(0.001)));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    return torch::relu(bn->forward(conv->forward(x)));
  }

  double init_std;  // torchvision's `stddev` attribute, read by the initialiser
  nn::Conv2d conv{nullptr};
  nn::BatchNorm2d bn{nullptr};
};
TORCH_MODULE(BasicConv2d);

torch::Tensor avg_pool_3x3_same(const torch::Tensor& x) {
  return torch::avg_pool2d(x, 3, /*stride=*/1, /*padding=*/1);
}

class InceptionAImpl : public nn::Module {
 public:
  InceptionAImpl(std::int64_t in, std::int64_t pool_features) {
    branch1x1 = register_module("branch1x1", BasicConv2d(in, 64, 1));
    branch5x5_1 = register_module("branch5x5_1", BasicConv2d(in, 48, 1));
    branch5x5_2 = register_module("branch5x5_2", BasicConv2d(48, 64, 5, 1, 2));
    branch3x3dbl_1 = register_module("branch3x3dbl_1", BasicConv2d(in, 64, 1));
    branch3x3dbl_2 = register_module("branch3x3dbl_2", BasicConv2d(64, 96, 3, 1, 1));
    branch3x3dbl_3 = register_module("branch3x3dbl_3", BasicConv2d(96, 96, 3, 1, 1));
    branch_pool = register_module("branch_pool", BasicConv2d(in, pool_features, 1));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    return torch::cat({branch1x1(x), branch5x5_2(branch5x5_1(x)),
                       branch3x3dbl_3(branch3x3dbl_2(branch3x3dbl_1(x))),
                       branch_pool(avg_pool_3x3_same(x))},
                      1);
  }
  BasicConv2d branch1x1{nullptr}, branch5x5_1{nullptr}, branch5x5_2{nullptr},
      branch3x3dbl_1{nullptr}, branch3x3dbl_2{nullptr}, branch3x3dbl_3{nullptr},
      branch_pool{nullptr};
};
TORCH_MODULE(InceptionA);

class InceptionBImpl : public nn::Module {
 public:
  explicit InceptionBImpl(std::int64_t in) {
    branch3x3 = register_module("branch3x3", BasicConv2d(in, 384, 3, 2));
    branch3x3dbl_1 = register_module("branch3x3dbl_1", BasicConv2d(in, 64, 1));
    branch3x3dbl_2 = register_module("branch3x3dbl_2", BasicConv2d(64, 96, 3, 1, 1));
    branch3x3dbl_3 = register_module("branch3x3dbl_3", BasicConv2d(96, 96, 3, 2));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    return torch::cat({branch3x3(x), branch3x3dbl_3(branch3x3dbl_2(branch3x3dbl_1(x))),
                       torch::max_pool2d(x, 3, 2)},
                      1);
  }
  BasicConv2d branch3x3{nullptr}, branch3x3dbl_1{nullptr}, branch3x3dbl_2{nullptr},
      branch3x3dbl_3{nullptr};
};
TORCH_MODULE(InceptionB);

class InceptionCImpl : public nn::Module {
 public:
  InceptionCImpl(std::int64_t in, std::int64_t c7) {
    const Size2 k1x7{1, 7}, k7x1{7, 1}, p1x7{0, 3}, p7x1{3, 0};
    branch1x1 = register_module("branch1x1", BasicConv2d(in, 192, 1));
    branch7x7_1 = register_module("branch7x7_1", BasicConv2d(in, c7, 1));
    branch7x7_2 = register_module("branch7x7_2", BasicConv2d(c7, c7, k1x7, 1, p1x7));
    branch7x7_3 = register_module("branch7x7_3", BasicConv2d(c7, 192, k7x1, 1, p7x1));
    branch7x7dbl_1 = register_module("branch7x7dbl_1", BasicConv2d(in, c7, 1));
    branch7x7dbl_2 = register_module("branch7x7dbl_2", BasicConv2d(c7, c7, k7x1, 1, p7x1));
    branch7x7dbl_3 = register_module("branch7x7dbl_3", BasicConv2d(c7, c7, k1x7, 1, p1x7));
    branch7x7dbl_4 = register_module("branch7x7dbl_4", BasicConv2d(c7, c7, k7x1, 1, p7x1));
    branch7x7dbl_5 = register_module("branch7x7dbl_5", BasicConv2d(c7, 192, k1x7, 1, p1x7));
    branch_pool = register_module("branch_pool", BasicConv2d(in, 192, 1));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto b7 = branch7x7_3(branch7x7_2(branch7x7_1(x)));
    auto b7dbl = branch7x7dbl_5(
        branch7x7dbl_4(branch7x7dbl_3(branch7x7dbl_2(branch7x7dbl_1(x)))));
    return torch::cat({branch1x1(x), b7, b7dbl, branch_pool(avg_pool_3x3_same(x))}, 1);
  }
  BasicConv2d branch1x1{nullptr}, branch7x7_1{nullptr}, branch7x7_2{nullptr},
      branch7x7_3{nullptr}, branch7x7dbl_1{nullptr}, branch7x7dbl_2{nullptr},
      branch7x7dbl_3{nullptr}, branch7x7dbl_4{nullptr}, branch7x7dbl_5{nullptr},
      branch_pool{nullptr};
};
TORCH_MODULE(InceptionC);

class InceptionDImpl : public nn::Module {
 public:
  explicit InceptionDImpl(std::int64_t in) {
    branch3x3_1 = register_module("branch3x3_1", BasicConv2d(in, 192, 1));
    branch3x3_2 = register_module("branch3x3_2", BasicConv2d(192, 320, 3, 2));
    branch7x7x3_1 = register_module("branch7x7x3_1", BasicConv2d(in, 192, 1));
    branch7x7x3_2 = register_module("branch7x7x3_2", BasicConv2d(192, 192, Size2{1, 7}, 1, Size2{0, 3}));
    branch7x7x3_3 = register_module("branch7x7x3_3", BasicConv2d(192, 192, Size2{7, 1}, 1, Size2{3, 0}));
    branch7x7x3_4 = register_module("branch7x7x3_4", BasicConv2d(192, 192, 3, 2));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto b3 = branch3x3_2(branch3x3_1(x));
    auto b7 = branch7x7x3_4(branch7x7x3_3(branch7x7x3_2(branch7x7x3_1(x))));
    return torch::cat({b3, b7, torch::max_pool2d(x, 3, 2)}, 1);
  }
  BasicConv2d branch3x3_1{nullptr}, branch3x3_2{nullptr}, branch7x7x3_1{nullptr},
      branch7x7x3_2{nullptr}, branch7x7x3_3{nullptr}, branch7x7x3_4{nullptr};
};
TORCH_MODULE(InceptionD);

class InceptionEImpl : public nn::Module {
 public:
  explicit InceptionEImpl(std::int64_t in) {
    const Size2 k1x3{1, 3}, k3x1{3, 1}, p1x3{0, 1}, p3x1{1, 0};
    branch1x1 = register_module("branch1x1", BasicConv2d(in, 320, 1));
    branch3x3_1 = register_module("branch3x3_1", BasicConv2d(in, 384, 1));
    branch3x3_2a = register_module("branch3x3_2a", BasicConv2d(384, 384, k1x3, 1, p1x3));
    branch3x3_2b = register_module("branch3x3_2b", BasicConv2d(384, 384, k3x1, 1, p3x1));
    branch3x3dbl_1 = register_module("branch3x3dbl_1", BasicConv2d(in, 448, 1));
    branch3x3dbl_2 = register_module("branch3x3dbl_2", BasicConv2d(448, 384, 3, 1, 1));
    branch3x3dbl_3a = register_module("branch3x3dbl_3a", BasicConv2d(384, 384, k1x3, 1, p1x3));
    branch3x3dbl_3b = register_module("branch3x3dbl_3b", BasicConv2d(384, 384, k3x1, 1, p3x1));
    branch_pool = register_module("branch_pool", BasicConv2d(in, 192, 1));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto b3 = branch3x3_1(x);
    b3 = torch::cat({branch3x3_2a(b3), branch3x3_2b(b3)}, 1);
    auto b3dbl = branch3x3dbl_2(branch3x3dbl_1(x));
    b3dbl = torch::cat({branch3x3dbl_3a(b3dbl), branch3x3dbl_3b(b3dbl)}, 1);
    return torch::cat({branch1x1(x), b3, b3dbl, branch_pool(avg_pool_3x3_same(x))}, 1);
  }
  BasicConv2d branch1x1{nullptr}, branch3x3_1{nullptr}, branch3x3_2a{nullptr},
      branch3x3_2b{nullptr}, branch3x3dbl_1{nullptr}, branch3x3dbl_2{nullptr},
      branch3x3dbl_3a{nullptr}, branch3x3dbl_3b{nullptr}, branch_pool{nullptr};
};
TORCH_MODULE(InceptionE);

class InceptionAuxImpl : public nn::Module {
 public:
  InceptionAuxImpl(std::int64_t in, std::int64_t num_classes) {
    conv0 = register_module("conv0", BasicConv2d(in, 128, 1));
    conv1 = register_module("conv1", BasicConv2d(128, 768, 5, 1, 0, /*init_std=*/0.01));
    fc = register_module("fc", nn::Linear(768, num_classes));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    // The 5x5/3 pool then the 5x5 convolution need a 17x17 map (299 input).
    if (x.size(2) < 17 || x.size(3) < 17) {
      throw cerebra::Error(
          "inception_v3: the auxiliary classifier needs Mixed_6e maps of at least 17x17 "
          "(299x299 input) but got " + std::to_string(x.size(2)) + "x" + std::to_string(x.size(3)) +
          "; train at 299x299 or set aux_logits = false");
    }
    auto y = conv1(conv0(torch::avg_pool2d(x, 5, 3)));
    return fc->forward(torch::flatten(torch::adaptive_avg_pool2d(y, {1, 1}), 1));
  }
  BasicConv2d conv0{nullptr}, conv1{nullptr};
  nn::Linear fc{nullptr};
};
TORCH_MODULE(InceptionAux);

class InceptionV3Model : public cerebra::ClassifierModel {
 public:
  InceptionV3Model(std::int64_t num_classes, double dropout, bool aux_logits, InputTransform transform)
      : transform_(transform) {
    transform_input_ = register_buffer("transform_input", torch::tensor(transform == InputTransform::On));
    Conv2d_1a_3x3 = register_module("Conv2d_1a_3x3", BasicConv2d(3, 32, 3, 2));
    Conv2d_2a_3x3 = register_module("Conv2d_2a_3x3", BasicConv2d(32, 32, 3));
    Conv2d_2b_3x3 = register_module("Conv2d_2b_3x3", BasicConv2d(32, 64, 3, 1, 1));
    Conv2d_3b_1x1 = register_module("Conv2d_3b_1x1", BasicConv2d(64, 80, 1));
    Conv2d_4a_3x3 = register_module("Conv2d_4a_3x3", BasicConv2d(80, 192, 3));
    Mixed_5b = register_module("Mixed_5b", InceptionA(192, 32));
    Mixed_5c = register_module("Mixed_5c", InceptionA(256, 64));
    Mixed_5d = register_module("Mixed_5d", InceptionA(288, 64));
    Mixed_6a = register_module("Mixed_6a", InceptionB(288));
    Mixed_6b = register_module("Mixed_6b", InceptionC(768, 128));
    Mixed_6c = register_module("Mixed_6c", InceptionC(768, 160));
    Mixed_6d = register_module("Mixed_6d", InceptionC(768, 160));
    Mixed_6e = register_module("Mixed_6e", InceptionC(768, 192));
    if (aux_logits) AuxLogits = register_module("AuxLogits", InceptionAux(768, num_classes));
    Mixed_7a = register_module("Mixed_7a", InceptionD(768));
    Mixed_7b = register_module("Mixed_7b", InceptionE(1280));
    Mixed_7c = register_module("Mixed_7c", InceptionE(2048));
    this->dropout = register_module("dropout", cerebra::BatchDropout(dropout));
    fc = register_module("fc", nn::Linear(2048, num_classes));
    initialise();
  }

  torch::Tensor features(const torch::Tensor& input) override {
    return tail(mixed_6(input));
  }
  torch::Tensor head(const torch::Tensor& features) override {
    return fc->forward(dropout->forward(features));
  }
  cerebra::ClassifierOutput forward_all(const torch::Tensor& input) override {
    auto x = mixed_6(input);
    // As in torchvision, the auxiliary head only runs while training.
    torch::Tensor aux;
    if (AuxLogits && is_training()) aux = AuxLogits(x);
    return {head(tail(x)), aux};
  }

  // Grad-CAM's layer is Mixed_7c (the auxiliary head plays no part).
  torch::Tensor forward_to_gradcam_layer(const torch::Tensor& input) override {
    return Mixed_7c(Mixed_7b(Mixed_7a(mixed_6(input))));
  }
  torch::Tensor forward_from_gradcam_layer(const torch::Tensor& activation) override {
    return head(pooled(activation));
  }

  // Published files lack transform_input; those weights imply it is on,
  // unless the pipeline turned it off.
  cerebra::StateDict published_weights_settings() const override {
    return {{"transform_input", torch::tensor(transform_ != InputTransform::Off)}};
  }

  // A checkpoint records the convention the network was trained with, also
  // when an explicit setting overrode what its starting weights carried.
  void save(torch::serialize::OutputArchive& archive) const override {
    if (transform_ != InputTransform::Auto) transform_input_.fill_(transform_ == InputTransform::On);
    cerebra::ClassifierModel::save(archive);
  }

 private:
  // "auto" follows the buffer (what the loaded weights expect); `where`
  // rather than a branch, which would wait for the device on every batch.
  torch::Tensor transformed(const torch::Tensor& input) {
    switch (transform_) {
      case InputTransform::On: return transform_input(input);
      case InputTransform::Off: return input;
      case InputTransform::Auto: break;
    }
    return torch::where(transform_input_, transform_input(input), input);
  }

  // Input to Mixed_6e (the auxiliary classifier's tap).
  torch::Tensor mixed_6(const torch::Tensor& input) {
    auto x = Conv2d_2b_3x3(Conv2d_2a_3x3(Conv2d_1a_3x3(transformed(input))));
    x = torch::max_pool2d(x, 3, 2);
    x = Conv2d_4a_3x3(Conv2d_3b_1x1(x));
    x = torch::max_pool2d(x, 3, 2);
    x = Mixed_5d(Mixed_5c(Mixed_5b(x)));
    return Mixed_6e(Mixed_6d(Mixed_6c(Mixed_6b(Mixed_6a(x)))));
  }
  // Mixed_6e's output to pooled, flattened features.
  torch::Tensor tail(const torch::Tensor& x) { return pooled(Mixed_7c(Mixed_7b(Mixed_7a(x)))); }
  static torch::Tensor pooled(const torch::Tensor& mixed_7c) {
    return torch::flatten(torch::adaptive_avg_pool2d(mixed_7c, {1, 1}), 1);
  }

  // torchvision's initialisation: truncated normal (std 0.1, or the module's
  // own stddev: 0.01 for AuxLogits.conv1, 0.001 for AuxLogits.fc), cut at
  // +-2 absolute, which at these deviations is 20+ sigma; clamping a normal
  // sample is therefore the same distribution in practice.
  void initialise() {
    torch::NoGradGuard no_grad;
    auto init = [](torch::Tensor& weight, double std) {
      weight.normal_(0.0, std).clamp_(-2.0, 2.0);
    };
    for (auto& module : modules(/*include_self=*/false)) {
      if (auto* basic = module->as<BasicConv2dImpl>()) {
        init(basic->conv->weight, basic->init_std);
      } else if (auto* bn = module->as<nn::BatchNorm2d>()) {
        nn::init::ones_(bn->weight);
        nn::init::zeros_(bn->bias);
      }
    }
    init(fc->weight, 0.1);
    nn::init::zeros_(fc->bias);
    if (AuxLogits) {
      init(AuxLogits->fc->weight, 0.001);
      nn::init::zeros_(AuxLogits->fc->bias);
    }
  }

  BasicConv2d Conv2d_1a_3x3{nullptr}, Conv2d_2a_3x3{nullptr}, Conv2d_2b_3x3{nullptr},
      Conv2d_3b_1x1{nullptr}, Conv2d_4a_3x3{nullptr};
  InceptionA Mixed_5b{nullptr}, Mixed_5c{nullptr}, Mixed_5d{nullptr};
  InceptionB Mixed_6a{nullptr};
  InceptionC Mixed_6b{nullptr}, Mixed_6c{nullptr}, Mixed_6d{nullptr}, Mixed_6e{nullptr};
  InceptionAux AuxLogits{nullptr};
  InceptionD Mixed_7a{nullptr};
  InceptionE Mixed_7b{nullptr}, Mixed_7c{nullptr};
  cerebra::BatchDropout dropout{nullptr};
  nn::Linear fc{nullptr};
  InputTransform transform_;
  // Whether the weights expect torchvision's transformed input. A buffer, so
  // that checkpoints carry it: a run started from published weights is
  // resumed, evaluated and continued with the transform it trained with.
  torch::Tensor transform_input_;
};

class InceptionV3 : public cerebra::Architecture {
 public:
  explicit InceptionV3(const cerebra::Parameters& parameters)
      : dropout_(parameters.get_float("dropout")),
        aux_logits_(parameters.get_bool("aux_logits")),
        transform_(parse_input_transform(parameters.get_string("transform_input"))) {}

  cerebra::ArchitectureInfo info() const override {
    cerebra::ArchitectureInfo info;
    info.input_size = 299;
    // Unpadded stride-2 layers: 75 leaves a 1x1 map after Mixed_7a (as
    // torchvision states); the auxiliary head needs 17x17 at Mixed_6e (299).
    info.min_input_size = aux_logits_ ? 299 : 75;
    if (aux_logits_) info.input_note = "for the auxiliary head; 75x75 with aux_logits = false";
    info.mean = {0.485, 0.456, 0.406};
    info.std = {0.229, 0.224, 0.225};
    info.layer_groups = {
        {"stem", {"Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Conv2d_3b_1x1", "Conv2d_4a_3x3"}},
        {"mixed_5", {"Mixed_5b", "Mixed_5c", "Mixed_5d"}},
        {"mixed_6", {"Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"}},
        {"mixed_7", {"Mixed_7a", "Mixed_7b", "Mixed_7c"}},
        {"head", {"fc"}}};
    if (aux_logits_) {  // its modules exist only with the auxiliary head
      auto& mixed_6 = info.layer_groups[2].module_prefixes;
      mixed_6.insert(mixed_6.end(), {"AuxLogits.conv0", "AuxLogits.conv1"});
      // Both classifiers: their shapes follow the class count, so a
      // different one re-initialises both when published weights load.
      info.layer_groups.back().module_prefixes.push_back("AuxLogits.fc");
    }
    info.gradcam_layer = "Mixed_7c";
    return info;
  }

  std::shared_ptr<cerebra::ClassifierModel> build(std::int64_t num_classes) const override {
    return std::make_shared<InceptionV3Model>(num_classes, dropout_, aux_logits_, transform_);
  }

 private:
  double dropout_;
  bool aux_logits_;
  InputTransform transform_;
};

void register_components(cerebra::Registry& registry) {
  cerebra::Schema schema;
  schema.add_float("dropout", 0.5, "Dropout probability before the final linear layer "
                                   "(torchvision: 0.5)")
      .range(0.0, 1.0);
  schema.add_bool("aux_logits", true,
                  "Build the auxiliary classifier on Mixed_6e (used while training; needs "
                  "299x299 inputs)");
  schema.add_string("transform_input", "auto",
                    "Rescale ImageNet-normalised input to the [-1, 1] convention of the published "
                    "(Google-ported) weights, as torchvision does: auto = on exactly when published "
                    "weights are loaded; a run continued from a checkpoint keeps its setting")
      .one_of({"auto", "on", "off"});
  registry.add<InceptionV3>(cerebra::kinds::architecture, "inception_v3",
                            "Inception v3 as in torchvision 0.14 (27.2M parameters with the "
                            "auxiliary head, ImageNet-compatible names)",
                            schema);
}

}  // namespace

CEREBRA_PLUGIN("inception_v3", "1.0.0", "Inception v3 architecture (torchvision layout)",
               register_components)
