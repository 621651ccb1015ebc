// Architectures for the explanation tests, with weights fixed by hand so the
// right heat map is known without training: the evidence for the last class
// is the brightness of the image (a 1x1 convolution averaging the channels,
// global average pooling, +1 for the last class and -1 for the others), so
// its Grad-CAM map is the image's brightness and peaks on the brightest spot.
//   test_bright_net   declares Grad-CAM layer "spot" and cuts the model there
//   test_uncut_net    declares "spot" but its model does not implement the cut
//   test_no_cam_net   declares no Grad-CAM layer
#include "cerebra/architecture.h"
#include "cerebra/plugin_abi.h"

namespace {

namespace nn = torch::nn;

class BrightModel : public cerebra::ClassifierModel {
 public:
  explicit BrightModel(std::int64_t classes) {
    spot_ = register_module("spot", nn::Conv2d(nn::Conv2dOptions(3, 1, 1)));
    fc_ = register_module("fc", nn::Linear(1, classes));
    torch::NoGradGuard no_grad;
    spot_->weight.fill_(1.0 / 3.0);
    spot_->bias.zero_();
    fc_->weight.fill_(-1.0);
    fc_->weight[classes - 1].fill_(1.0);
    fc_->bias.zero_();
  }
  torch::Tensor features(const torch::Tensor& input) override { return pooled(spot_->forward(input)); }
  torch::Tensor head(const torch::Tensor& features) override { return fc_->forward(features); }

 protected:
  static torch::Tensor pooled(const torch::Tensor& spot) { return spot.mean({2, 3}); }
  nn::Conv2d spot_{nullptr};
  nn::Linear fc_{nullptr};
};

class CutBrightModel : public BrightModel {
 public:
  using BrightModel::BrightModel;
  torch::Tensor forward_to_gradcam_layer(const torch::Tensor& input) override { return spot_->forward(input); }
  torch::Tensor forward_from_gradcam_layer(const torch::Tensor& activation) override {
    return head(pooled(activation));
  }
};

template <typename Model>
class BrightNet : public cerebra::Architecture {
 public:
  BrightNet(const cerebra::Parameters&, std::string gradcam_layer) : gradcam_layer_(std::move(gradcam_layer)) {}
  cerebra::ArchitectureInfo info() const override {
    cerebra::ArchitectureInfo info;
    info.input_size = 48;
    info.mean = {0, 0, 0};
    info.std = {1, 1, 1};
    info.layer_groups = {{"spot", {"spot"}}, {"head", {"fc"}}};
    info.gradcam_layer = gradcam_layer_;
    return info;
  }
  std::shared_ptr<cerebra::ClassifierModel> build(std::int64_t classes) const override {
    return std::make_shared<Model>(classes);
  }

 private:
  std::string gradcam_layer_;
};

struct Bright : BrightNet<CutBrightModel> {
  explicit Bright(const cerebra::Parameters& p) : BrightNet(p, "spot") {}
};
struct Uncut : BrightNet<BrightModel> {
  explicit Uncut(const cerebra::Parameters& p) : BrightNet(p, "spot") {}
};
struct NoCam : BrightNet<CutBrightModel> {
  explicit NoCam(const cerebra::Parameters& p) : BrightNet(p, "") {}
};

void register_components(cerebra::Registry& registry) {
  registry.add<Bright>(cerebra::kinds::architecture, "test_bright_net", "Brightness is the evidence (test plugin)", {});
  registry.add<Uncut>(cerebra::kinds::architecture, "test_uncut_net", "Declares a Grad-CAM layer it cannot cut at (test plugin)", {});
  registry.add<NoCam>(cerebra::kinds::architecture, "test_no_cam_net", "Declares no Grad-CAM layer (test plugin)", {});
}

}  // namespace

CEREBRA_PLUGIN("test_explain_nets", "0.0.1", "Architectures for the explanation tests", register_components)
