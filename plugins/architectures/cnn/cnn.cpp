// The study's proposed CNN, exactly as described: 64x64x3 input; three 3x3
// convolutions (32, 32, 64 filters, no padding) each followed by ReLU and 2x2
// max-pooling; flatten (6*6*64 = 2304); dense 64 + ReLU; dropout; dense to the
// class count. Softmax is applied at inference by the trainer, not here, so
// the loss can work on logits.
#include <cerebra/architecture.h>
#include <cerebra/batch_dropout.h>
#include <cerebra/plugin_abi.h>

namespace {

namespace nn = torch::nn;

class CnnModel : public cerebra::ClassifierModel {
 public:
  CnnModel(std::int64_t num_classes, double dropout, std::int64_t input_size) {
    conv1_ = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(3, 32, 3)));
    conv2_ = register_module("conv2", nn::Conv2d(nn::Conv2dOptions(32, 32, 3)));
    conv3_ = register_module("conv3", nn::Conv2d(nn::Conv2dOptions(32, 64, 3)));
    std::int64_t side = input_size;
    for (int block = 0; block < 3; ++block) side = (side - 2) / 2;
    TORCH_CHECK(side >= 1, "cnn: input size ", input_size, " is too small (at least 22)");
    fc1_ = register_module("fc1", nn::Linear(64 * side * side, 64));
    dropout_ = register_module("dropout", cerebra::BatchDropout(dropout));
    fc2_ = register_module("fc2", nn::Linear(64, num_classes));

    // Initialisation as in the Keras model the study describes: he_uniform on
    // the second and third convolutions, Keras' default glorot_uniform
    // elsewhere, zero biases.
    torch::NoGradGuard no_grad;
    nn::init::xavier_uniform_(conv1_->weight);
    nn::init::kaiming_uniform_(conv2_->weight, 0, torch::kFanIn, torch::kReLU);
    nn::init::kaiming_uniform_(conv3_->weight, 0, torch::kFanIn, torch::kReLU);
    nn::init::xavier_uniform_(fc1_->weight);
    nn::init::xavier_uniform_(fc2_->weight);
    for (auto* bias : {&conv1_->bias, &conv2_->bias, &conv3_->bias, &fc1_->bias, &fc2_->bias}) {
      bias->zero_();
    }
    for (auto* conv : {&conv1_, &conv2_, &conv3_}) {
      (*conv)->weight.set_data((*conv)->weight.contiguous(torch::MemoryFormat::ChannelsLast));
    }
  }

  torch::Tensor features(const torch::Tensor& input) override {
    // Two measured speed-ups (docs/performance.md), neither changing what is
    // computed:
    //  - max-pool before ReLU: ReLU is monotonic, so max(relu(x)) ==
    //    relu(max(x)), and the gradients are identical too (a window whose
    //    maximum is <= 0 passes none either way); ReLU and its backward then
    //    touch a quarter of the values. ReLU in place on the pooled tensor.
    //  - channels-last activations and weights, which oneDNN's convolutions
    //    and ATen's pooling run without layout conversions.
    // tests/models/test_cnn_equivalence.cpp checks outputs and gradients
    // against the textbook order (conv, ReLU, pool) in NCHW.
    return pooled(conv3_->forward(blocks_1_2(input)));
  }

  // Grad-CAM's layer is conv3 with its ReLU, as the study's Keras layer has
  // it built in (Grad-CAM weighs activations, which must be >= 0 to be
  // evidence). Pooling relu(conv3) is what features() computes, as above.
  torch::Tensor forward_to_gradcam_layer(const torch::Tensor& input) override {
    return conv3_->forward(blocks_1_2(input)).relu_();
  }
  torch::Tensor forward_from_gradcam_layer(const torch::Tensor& activation) override {
    return head(pooled(activation));
  }

  // Unpadded: conv3's cell t is centred on input pixel 4t + 8.5 (conv1 +1,
  // pool x2 +0.5, conv2 +1, pool x2 +0.5, conv3 +1), cells 4 pixels apart.
  cerebra::GradcamExtent gradcam_extent(std::int64_t height, std::int64_t width) const override {
    auto cells = [](std::int64_t side) { return ((side - 2) / 2 - 2) / 2 - 2; };
    return {7.0, 7.0, 7.0 + 4.0 * static_cast<double>(cells(width)), 7.0 + 4.0 * static_cast<double>(cells(height))};
  }

  torch::Tensor head(const torch::Tensor& features) override {
    return fc2_->forward(dropout_->forward(fc1_->forward(features).relu_()));
  }

 private:
  torch::Tensor blocks_1_2(const torch::Tensor& input) {
    auto x = input.contiguous(torch::MemoryFormat::ChannelsLast);
    x = torch::max_pool2d(conv1_->forward(x), 2).relu_();
    return torch::max_pool2d(conv2_->forward(x), 2).relu_();
  }
  // conv3's output (or its ReLU) pooled, ReLU'd and flattened. Not in place
  // on the argument: Grad-CAM needs that tensor unchanged.
  static torch::Tensor pooled(const torch::Tensor& conv3) {
    auto x = torch::max_pool2d(conv3, 2).relu_();
    return x.flatten(1);  // flattens in (channel, row, column) order, whatever the layout
  }

  nn::Conv2d conv1_{nullptr}, conv2_{nullptr}, conv3_{nullptr};
  nn::Linear fc1_{nullptr}, fc2_{nullptr};
  cerebra::BatchDropout dropout_{nullptr};
};

class Cnn : public cerebra::Architecture {
 public:
  explicit Cnn(const cerebra::Parameters& parameters)
      : dropout_(parameters.get_float("dropout")), input_size_(parameters.get_int("input_size")) {}

  cerebra::ArchitectureInfo info() const override {
    cerebra::ArchitectureInfo info;
    info.input_size = input_size_;
    info.fixed_input = true;  // fc1 is sized for this input and no other
    info.input_note = "set by its input_size parameter";
    info.mean = {0.0, 0.0, 0.0};  // the study rescales to [0, 1] only
    info.std = {1.0, 1.0, 1.0};
    info.layer_groups = {{"block1", {"conv1"}},
                         {"block2", {"conv2"}},
                         {"block3", {"conv3"}},
                         {"head", {"fc1", "fc2"}}};
    info.gradcam_layer = "conv3";
    return info;
  }

  std::shared_ptr<cerebra::ClassifierModel> build(std::int64_t num_classes) const override {
    return std::make_shared<CnnModel>(num_classes, dropout_, input_size_);
  }

 private:
  double dropout_;
  std::int64_t input_size_;
};

void register_components(cerebra::Registry& registry) {
  cerebra::Schema schema;
  schema.add_float("dropout", 0.3, "Dropout before the last dense layer").range(0, 0.99);
  schema.add_int("input_size", 64, "Square input side the network is built for (the study: 64)")
      .range(22, 1024);
  registry.add<Cnn>(cerebra::kinds::architecture, "cnn",
                    "The study's proposed CNN: 3 conv blocks (32/32/64), dense 64, dropout",
                    schema);
}

}  // namespace

CEREBRA_PLUGIN("cnn", "1.0.0", "The proposed CNN of the transfer-learning study",
               register_components)
