// Loss components: cross-entropy (label smoothing, class weights) and focal loss.
#include <cmath>
#include <limits>

#include "cerebra/plugin_abi.h"
#include "cerebra/training.h"

namespace {

namespace F = torch::nn::functional;

// Per-class weights n / (k * count_c) that make every class weigh the same in
// the loss as a whole; a class absent from training weighs 0.
torch::Tensor balanced_weights(const cerebra::LossContext& context) {
  const auto& counts = context.class_counts;
  double total = 0;
  for (auto count : counts) total += static_cast<double>(count);
  std::vector<float> weights;
  for (auto count : counts) {
    weights.push_back(count > 0 ? static_cast<float>(total / (counts.size() * static_cast<double>(count))) : 0.0f);
  }
  return torch::tensor(weights).to(context.device);
}

void add_class_weights(cerebra::Schema& schema) {
  schema.add_string("class_weights", "none",
                    "none, or balanced: weight each class by n / (classes * its training count)")
      .one_of({"none", "balanced"});
}

class CrossEntropy : public cerebra::Loss {
 public:
  explicit CrossEntropy(const cerebra::Parameters& p)
      : smoothing_(p.get_float("label_smoothing")), balanced_(p.get_string("class_weights") == "balanced") {}

  void prepare(const cerebra::LossContext& context) override {
    if (balanced_) weights_ = balanced_weights(context);
    if (!context.label_sets.empty()) {
      accepted_ = cerebra::label_acceptance(context.class_names.size(), context.label_sets, context.device);
    }
  }

  torch::Tensor compute(const torch::Tensor& logits, const torch::Tensor& labels) const override {
    if (accepted_.defined()) return coarse(logits, labels);
    auto options = F::CrossEntropyFuncOptions().label_smoothing(smoothing_);
    if (weights_.defined()) options.weight(weights_);
    return F::cross_entropy(logits, labels, options);
  }

 private:
  // With coarse labels: -log of the summed probability of the classes a label
  // accepts (for a class label, plain cross-entropy). A coarse label weighs
  // the mean weight of its classes; smoothing mixes in the mean of -log p.
  torch::Tensor coarse(const torch::Tensor& logits, const torch::Tensor& labels) const {
    const auto log_p = torch::log_softmax(logits, 1);
    const auto accepted = accepted_.index_select(0, labels);
    const auto masked = log_p.masked_fill(accepted.eq(0), -std::numeric_limits<float>::infinity());
    auto loss = -torch::logsumexp(masked, 1);
    if (smoothing_ > 0) loss = (1 - smoothing_) * loss - smoothing_ * log_p.mean(1);
    if (!weights_.defined()) return loss.mean();
    const auto weight = (accepted * weights_).sum(1) / accepted.sum(1);
    return (loss * weight).sum() / weight.sum();
  }

  double smoothing_;
  bool balanced_;
  torch::Tensor weights_, accepted_;
};

// Lin et al., "Focal Loss for Dense Object Detection": -alpha_t (1 - p_t)^gamma log p_t,
// averaged over the batch. gamma = 0 without alpha is plain cross-entropy.
class Focal : public cerebra::Loss {
 public:
  explicit Focal(const cerebra::Parameters& p)
      : gamma_(p.get_float("gamma")), alpha_(p.get_numbers("alpha")),
        balanced_(p.get_string("class_weights") == "balanced") {}

  void prepare(const cerebra::LossContext& context) override {
    if (!context.label_sets.empty()) {
      throw cerebra::Error("[loss] focal does not take coarse labels ([extra_training]); use cross_entropy");
    }
    if (!alpha_.empty() && alpha_.size() != context.class_names.size()) {
      throw cerebra::Error("[loss] focal: alpha has " + std::to_string(alpha_.size()) + " values but the data has " +
                           std::to_string(context.class_names.size()) + " classes; give one per class or none");
    }
    if (!alpha_.empty()) {
      std::vector<float> values(alpha_.begin(), alpha_.end());
      weights_ = torch::tensor(values).to(context.device);
    }
    if (balanced_) weights_ = weights_.defined() ? weights_ * balanced_weights(context) : balanced_weights(context);
  }

  torch::Tensor compute(const torch::Tensor& logits, const torch::Tensor& labels) const override {
    auto log_p = torch::log_softmax(logits, 1).gather(1, labels.unsqueeze(1)).squeeze(1);
    auto loss = -torch::pow(1 - log_p.exp(), gamma_) * log_p;
    if (weights_.defined()) loss = loss * weights_.index_select(0, labels);
    return loss.mean();
  }

 private:
  double gamma_;
  std::vector<double> alpha_;
  bool balanced_;
  torch::Tensor weights_;
};

void register_components(cerebra::Registry& registry) {
  cerebra::Schema cross_entropy;
  cross_entropy.add_float("label_smoothing", 0, "Label smoothing (0 for none)").range(0, 1);
  add_class_weights(cross_entropy);
  registry.add<CrossEntropy>(cerebra::kinds::loss, "cross_entropy",
                             "Cross-entropy with optional label smoothing and balanced class weights",
                             cross_entropy);

  cerebra::Schema focal;
  focal.add_float("gamma", 2.0, "Focusing exponent: larger values down-weight easy images").range(0, 10);
  focal.add_numbers("alpha", {}, "Weight of each class (one per class, in class order); empty for none")
      .range(0, 1000);
  add_class_weights(focal);
  registry.add<Focal>(cerebra::kinds::loss, "focal", "Focal loss (Lin et al. 2017) for hard or rare classes", focal);
}

}  // namespace

CEREBRA_PLUGIN("losses", "1.0.0", "Training losses: cross-entropy and focal", register_components)
