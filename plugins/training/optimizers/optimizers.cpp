// Optimizer components: adam, adamw and sgd, with weight decay and separate
// learning rates for the backbone and the head.
#include "cerebra/plugin_abi.h"
#include "cerebra/training.h"

namespace {

using cerebra::ParameterGroup;
using torch::optim::OptimizerOptions;
using torch::optim::OptimizerParamGroup;

// The rates and decay every optimizer here shares.
class RatedOptimizer : public cerebra::Optimizer {
 public:
  explicit RatedOptimizer(const cerebra::Parameters& p)
      : head_rate_(p.get_float("learning_rate")), backbone_rate_(p.get_float("backbone_learning_rate")),
        weight_decay_(p.get_float("weight_decay")) {
    if (backbone_rate_ < 0) backbone_rate_ = head_rate_;
  }

  std::unique_ptr<torch::optim::Optimizer> build(std::vector<ParameterGroup>& groups) const override {
    std::vector<OptimizerParamGroup> torch_groups;
    for (auto& group : groups) {
      group.learning_rate = group.name == "head" ? head_rate_ : backbone_rate_;
      torch_groups.emplace_back(group.parameters, options(group.learning_rate));
    }
    return make(std::move(torch_groups));
  }

 protected:
  virtual std::unique_ptr<OptimizerOptions> options(double rate) const = 0;
  virtual std::unique_ptr<torch::optim::Optimizer> make(std::vector<OptimizerParamGroup> groups) const = 0;

  double head_rate_, backbone_rate_, weight_decay_;
};

// Adam and AdamW differ only in torch's classes.
template <class TorchOptimizer, class TorchOptions>
class AdamFamily : public RatedOptimizer {
 public:
  using RatedOptimizer::RatedOptimizer;

 protected:
  std::unique_ptr<OptimizerOptions> options(double rate) const override {
    return std::make_unique<TorchOptions>(TorchOptions(rate).weight_decay(weight_decay_));
  }
  std::unique_ptr<torch::optim::Optimizer> make(std::vector<OptimizerParamGroup> groups) const override {
    return std::make_unique<TorchOptimizer>(std::move(groups), TorchOptions(head_rate_));
  }
};

using Adam = AdamFamily<torch::optim::Adam, torch::optim::AdamOptions>;
using AdamW = AdamFamily<torch::optim::AdamW, torch::optim::AdamWOptions>;

class Sgd : public RatedOptimizer {
 public:
  explicit Sgd(const cerebra::Parameters& p)
      : RatedOptimizer(p), momentum_(p.get_float("momentum")), nesterov_(p.get_bool("nesterov")) {
    if (nesterov_ && momentum_ <= 0) throw cerebra::Error("[optimizer] sgd: nesterov = true needs momentum > 0");
  }

 protected:
  std::unique_ptr<OptimizerOptions> options(double rate) const override {
    return std::make_unique<torch::optim::SGDOptions>(
        torch::optim::SGDOptions(rate).momentum(momentum_).nesterov(nesterov_).weight_decay(weight_decay_));
  }
  std::unique_ptr<torch::optim::Optimizer> make(std::vector<OptimizerParamGroup> groups) const override {
    return std::make_unique<torch::optim::SGD>(std::move(groups), torch::optim::SGDOptions(head_rate_));
  }

 private:
  double momentum_;
  bool nesterov_;
};

cerebra::Schema rated_schema(double default_decay) {
  cerebra::Schema schema;
  schema.add_float("learning_rate", 1e-3, "Learning rate of the head (and of the backbone unless set)").range(0, 10);
  schema.add_float("backbone_learning_rate", -1, "Learning rate of the backbone; -1 uses learning_rate")
      .range(-1, 10);
  schema.add_float("weight_decay", default_decay, "Weight decay").range(0, 1);
  return schema;
}

void register_components(cerebra::Registry& registry) {
  registry.add<Adam>(cerebra::kinds::optimizer, "adam", "Adam (Kingma and Ba), L2 weight decay", rated_schema(0));
  registry.add<AdamW>(cerebra::kinds::optimizer, "adamw", "AdamW: Adam with decoupled weight decay",
                      rated_schema(0.01));
  cerebra::Schema sgd = rated_schema(0);
  sgd.add_float("momentum", 0.9, "Momentum").range(0, 1);
  sgd.add_bool("nesterov", false, "Nesterov momentum (needs momentum > 0)");
  registry.add<Sgd>(cerebra::kinds::optimizer, "sgd", "Stochastic gradient descent with momentum", sgd);
}

}  // namespace

CEREBRA_PLUGIN("optimizers", "1.0.0", "Optimizers: adam, adamw, sgd", register_components)
