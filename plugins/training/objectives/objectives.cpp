// Objective components: what one training step computes from a batch.
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

void register_components(cerebra::Registry& registry) {
  cerebra::Schema classification;
  classification.add_float("aux_loss_weight", 0.4, "Weight of auxiliary logits in the loss (InceptionV3)")
      .range(0, 10);
  registry.add<Classification>(cerebra::kinds::objective, "classification",
                               "Supervised classification: the loss of the logits against the labels",
                               classification);
}

}  // namespace

CEREBRA_PLUGIN("objectives", "1.0.0", "Training objectives: supervised classification", register_components)
