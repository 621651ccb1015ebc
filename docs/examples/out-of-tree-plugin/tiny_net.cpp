// An architecture plugin: a two-block network, with the structure every
// Cerebra architecture declares (features, head, layer groups, Grad-CAM layer,
// default input size and normalisation).
#include <cerebra/architecture.h>
#include <cerebra/plugin_abi.h>

namespace {

class TinyNetModel : public cerebra::ClassifierModel {
 public:
  TinyNetModel(std::int64_t width, std::int64_t num_classes) {
    block1_ = register_module("block1", torch::nn::Sequential(
        torch::nn::Conv2d(torch::nn::Conv2dOptions(3, width, 3).padding(1)),
        torch::nn::ReLU(), torch::nn::MaxPool2d(2)));
    block2_ = register_module("block2", torch::nn::Sequential(
        torch::nn::Conv2d(torch::nn::Conv2dOptions(width, width, 3).padding(1)),
        torch::nn::ReLU(), torch::nn::AdaptiveAvgPool2d(1)));
    fc_ = register_module("fc", torch::nn::Linear(width, num_classes));
  }
  torch::Tensor features(const torch::Tensor& input) override {
    return block2_->forward(block1_->forward(input)).flatten(1);
  }
  torch::Tensor head(const torch::Tensor& features) override { return fc_->forward(features); }

 private:
  torch::nn::Sequential block1_{nullptr}, block2_{nullptr};
  torch::nn::Linear fc_{nullptr};
};

class TinyNet : public cerebra::Architecture {
 public:
  explicit TinyNet(const cerebra::Parameters& parameters) : width_(parameters.get_int("width")) {}

  cerebra::ArchitectureInfo info() const override {
    cerebra::ArchitectureInfo info;
    info.input_size = 64;
    info.min_input_size = 2;  // one 2x2 pool, then adaptive pooling takes any map
    info.mean = {0.5, 0.5, 0.5};
    info.std = {0.5, 0.5, 0.5};
    info.layer_groups = {{"block1", {"block1"}}, {"block2", {"block2"}}, {"head", {"fc"}}};
    info.gradcam_layer = "block2";
    return info;
  }
  std::shared_ptr<cerebra::ClassifierModel> build(std::int64_t num_classes) const override {
    return std::make_shared<TinyNetModel>(width_, num_classes);
  }

 private:
  std::int64_t width_;
};

void register_components(cerebra::Registry& registry) {
  cerebra::Schema schema;
  schema.add_int("width", 16, "Filters in each convolution").range(1, 1024);
  registry.add<TinyNet>(cerebra::kinds::architecture, "tiny_net",
                        "Two convolution blocks and a linear head (out-of-tree example)", schema);
}

}  // namespace

CEREBRA_PLUGIN("tiny_net", "1.0.0", "Example architecture built outside the Cerebra tree",
               register_components)
