// Objective components: what one training step computes from a batch.
#include "cerebra/error.h"
#include "cerebra/plugin_abi.h"
#include "cerebra/training.h"

namespace {

// Supervised classification: the loss of the logits against the labels, plus
// the weighted loss of an auxiliary head where the network has one
// (InceptionV3's AuxLogits, as torchvision trains it).
class Classification : public cerebra::Objective {
 public:
  explicit Classification(const cerebra::Parameters& p) : aux_weight_(p.get_float("aux_loss_weight")) {}

  cerebra::StepResult step(cerebra::StepInputs& inputs) override {
    cerebra::ClassifierOutput output = inputs.forward(0);
    const auto& labels = inputs.labels();
    auto loss = inputs.loss().compute(output.logits.to(torch::kFloat), labels);
    if (output.aux_logits.defined()) {
      loss = loss + aux_weight_ * inputs.loss().compute(output.aux_logits.to(torch::kFloat), labels);
    }
    return {loss, output.logits};
  }

 private:
  double aux_weight_;
};

// Self-supervised contrastive learning (SimCLR, Chen et al. 2020): two
// augmented views of each image pass through the feature extractor and a
// small projection head; NT-Xent pulls each view towards its twin and away
// from the 2n - 2 other views of the batch. No labels: the feature extractor
// it trains is a starting point for fine-tuning ([transfer] weights = this
// run's checkpoint), as a published .pth would be.
class Contrastive : public cerebra::Objective {
 public:
  explicit Contrastive(const cerebra::Parameters& p)
      : temperature_(p.get_float("temperature")),
        hidden_(p.get_int("projection_hidden")),
        out_(p.get_int("projection_dim")) {}

  cerebra::ObjectiveNeeds needs() const override { return {2, false}; }

  void prepare(cerebra::ClassifierModel& model, const cerebra::ObjectiveContext& context) override {
    if (context.height <= 0 || context.width <= 0) {
      throw cerebra::Error(
          "[objective] contrastive: the preprocess stages do not fix the input size, so the projection head "
          "cannot be sized; end [[preprocess]] with a resize");
    }
    const std::int64_t features = feature_size(model, context);
    projection_ = torch::nn::Sequential(torch::nn::Linear(features, hidden_), torch::nn::ReLU(),
                                        torch::nn::Linear(hidden_, out_));
    projection_->to(context.device);
  }

  std::vector<torch::Tensor> parameters() override { return projection_->parameters(); }

  cerebra::StepResult step(cerebra::StepInputs& inputs) override {
    auto embed = [&](std::size_t view) {
      // The similarities in float32, whatever precision the forward pass ran in.
      auto z = projection_->forward(cerebra::pooled_features(inputs.model().features(inputs.input(view))))
                   .to(torch::kFloat);
      return torch::nn::functional::normalize(z, torch::nn::functional::NormalizeFuncOptions().dim(1));
    };
    const torch::Tensor z = torch::cat({embed(0), embed(1)});
    const std::int64_t n = z.size(0) / 2;
    // A view is never its own negative: its self-similarity is masked out.
    torch::Tensor similarity = z.matmul(z.t()) / temperature_;
    similarity = similarity.masked_fill(torch::eye(2 * n, torch::dtype(torch::kBool).device(z.device())), -1e9);
    const torch::Tensor twin = torch::cat({torch::arange(n, 2 * n), torch::arange(0, n)}).to(z.device());
    return {torch::nn::functional::cross_entropy(similarity, twin), {}};
  }

 private:
  static std::int64_t feature_size(cerebra::ClassifierModel& model, const cerebra::ObjectiveContext& context) {
    torch::NoGradGuard no_grad;
    const bool training = model.is_training();
    model.eval();  // batch norm cannot train on a batch of one
    const auto probe = torch::zeros({1, context.channels, context.height, context.width}, torch::TensorOptions().device(context.device));
    const std::int64_t size = cerebra::pooled_features(model.features(probe)).size(1);
    model.train(training);
    return size;
  }

  double temperature_;
  std::int64_t hidden_, out_;
  torch::nn::Sequential projection_{nullptr};
};

void register_components(cerebra::Registry& registry) {
  cerebra::Schema classification;
  classification.add_float("aux_loss_weight", 0.4, "Weight of auxiliary logits in the loss (InceptionV3)")
      .range(0, 10);
  registry.add<Classification>(cerebra::kinds::objective, "classification",
                               "Supervised classification: the loss of the logits against the labels",
                               classification);
  cerebra::Schema contrastive;
  contrastive.add_float("temperature", 0.2, "NT-Xent temperature: lower sharpens the contrast between views")
      .range(0.01, 10);
  contrastive.add_int("projection_hidden", 256, "Width of the projection head's hidden layer").range(1, 65536);
  contrastive.add_int("projection_dim", 64, "Size of the projected embedding").range(1, 65536);
  registry.add<Contrastive>(cerebra::kinds::objective, "contrastive",
                            "Self-supervised SimCLR (NT-Xent over two augmented views); labels unused", contrastive);
}

}  // namespace

CEREBRA_PLUGIN("objectives", "1.0.0", "Training objectives: supervised classification, self-supervised contrastive", register_components)
