// An architecture whose loss turns non-finite on its 12th training forward
// pass, to check that the trainer stops cleanly and keeps its last good checkpoint.
#include <limits>

#include "cerebra/architecture.h"
#include "cerebra/plugin_abi.h"

namespace {

class NanNetModel : public cerebra::ClassifierModel {
 public:
  explicit NanNetModel(std::int64_t classes) {
    fc_ = register_module("fc", torch::nn::Linear(3, classes));
  }
  torch::Tensor features(const torch::Tensor& input) override { return input.mean({2, 3}); }
  torch::Tensor head(const torch::Tensor& features) override {
    auto logits = fc_->forward(features);
    if (is_training() && ++forward_passes_ >= 12) {
      logits = logits * std::numeric_limits<float>::quiet_NaN();
    }
    return logits;
  }

 private:
  torch::nn::Linear fc_{nullptr};
  int forward_passes_ = 0;
};

class NanNet : public cerebra::Architecture {
 public:
  explicit NanNet(const cerebra::Parameters&) {}
  cerebra::ArchitectureInfo info() const override {
    cerebra::ArchitectureInfo info;
    info.input_size = 32;
    info.layer_groups = {{"head", {"fc"}}};
    info.gradcam_layer = "fc";
    return info;
  }
  std::shared_ptr<cerebra::ClassifierModel> build(std::int64_t classes) const override {
    return std::make_shared<NanNetModel>(classes);
  }
};

void register_components(cerebra::Registry& registry) {
  registry.add<NanNet>(cerebra::kinds::architecture, "test_nan_net",
                       "Produces NaN logits from its 12th training pass (test plugin)", {});
}

}  // namespace

CEREBRA_PLUGIN("test_nan_net", "0.0.1", "Non-finite loss on purpose", register_components)
