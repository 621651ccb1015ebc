// Optimizer components: adam, adamw and sgd, with weight decay and separate
// learning rates for the backbone and the head.
#include "adam_step.h"
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

// Adam and AdamW differ only in torch's classes. "torch" runs torch's own
// step; the others a faster one with the same state (adam_step.h).
template <class TorchOptimizer, class TorchOptions>
class AdamFamily : public RatedOptimizer {
 public:
  explicit AdamFamily(const cerebra::Parameters& p)
      : RatedOptimizer(p), implementation_(p.get_string("implementation")) {
    if (implementation_ != "torch") cerebra_optimizers::adam_implementation(implementation_);  // checks the name
  }

 protected:
  std::unique_ptr<OptimizerOptions> options(double rate) const override {
    return std::make_unique<TorchOptions>(TorchOptions(rate).weight_decay(weight_decay_));
  }
  std::unique_ptr<torch::optim::Optimizer> make(std::vector<OptimizerParamGroup> groups) const override {
    if (implementation_ == "torch") return std::make_unique<TorchOptimizer>(std::move(groups), TorchOptions(head_rate_));
    return std::make_unique<cerebra_optimizers::FastAdam<TorchOptimizer>>(
        std::move(groups), TorchOptions(head_rate_), cerebra_optimizers::adam_implementation(implementation_));
  }

 private:
  std::string implementation_;
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

cerebra::Schema adam_schema(double default_decay) {
  cerebra::Schema schema = rated_schema(default_decay);
  schema.add_string("implementation", "auto",
                    "auto: one fused pass per parameter on the CPU, multi-tensor (_foreach_) kernels elsewhere; "
                    "fused or foreach to insist on one; torch: LibTorch's reference loop (same results within "
                    "rounding, same checkpoint state)")
      .one_of({"auto", "fused", "foreach", "torch"});
  return schema;
}

void register_components(cerebra::Registry& registry) {
  registry.add<Adam>(cerebra::kinds::optimizer, "adam", "Adam (Kingma and Ba), L2 weight decay", adam_schema(0));
  registry.add<AdamW>(cerebra::kinds::optimizer, "adamw", "AdamW: Adam with decoupled weight decay",
                      adam_schema(0.01));
  cerebra::Schema sgd = rated_schema(0);
  sgd.add_float("momentum", 0.9, "Momentum").range(0, 1);
  sgd.add_bool("nesterov", false, "Nesterov momentum (needs momentum > 0)");
  registry.add<Sgd>(cerebra::kinds::optimizer, "sgd", "Stochastic gradient descent with momentum", sgd);
}

}  // namespace

CEREBRA_PLUGIN("optimizers", "1.0.0", "Optimizers: adam, adamw, sgd", register_components)
