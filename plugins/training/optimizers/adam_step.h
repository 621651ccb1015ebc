// Adam and AdamW steps faster than torch's reference loop, which makes six
// or seven passes over every parameter's memory (a quarter of a ResNet50
// training step on 2 CPU cores). Same state and checkpoint format as
// torch::optim::Adam / AdamW, so runs resume across implementations:
//  - "fused": one pass per parameter on the CPU (float32, contiguous),
//    reading gradient, parameter and both moments once and writing them once;
//  - "foreach": ATen's multi-tensor (_foreach_) kernels, a handful of launches
//    per step on CUDA instead of several per parameter;
//  - "auto": fused where it applies, foreach elsewhere.
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

namespace cerebra_optimizers {

enum class AdamImplementation { automatic, fused, foreach_kernels };

AdamImplementation adam_implementation(const std::string& name);

// The update of one step for one group, shared by Adam (L2 decay folded into
// the gradient) and AdamW (decoupled decay applied to the weights).
struct AdamStepSettings {
  double learning_rate, beta1, beta2, eps, weight_decay;
  bool decoupled_decay;
};

// One parameter's update in a single pass: `param`, `exp_avg`, `exp_avg_sq`
// and `grad` float32, contiguous, on the CPU, of the same size; `step` the
// step count after this step (>= 1).
void fused_adam_update(torch::Tensor& param, torch::Tensor& exp_avg, torch::Tensor& exp_avg_sq,
                       const torch::Tensor& grad, std::int64_t step, const AdamStepSettings& settings);

// torch::optim::Adam or AdamW with step() replaced.
template <class TorchAdam>
class FastAdam : public TorchAdam {
 public:
  using Options = std::conditional_t<std::is_same_v<TorchAdam, torch::optim::AdamW>, torch::optim::AdamWOptions,
                                     torch::optim::AdamOptions>;
  FastAdam(std::vector<torch::optim::OptimizerParamGroup> groups, Options defaults,
           AdamImplementation implementation)
      : TorchAdam(std::move(groups), defaults), implementation_(implementation) {}

  torch::Tensor step(torch::optim::Optimizer::LossClosure closure = nullptr) override;

 private:
  static constexpr bool decoupled = std::is_same_v<TorchAdam, torch::optim::AdamW>;
  torch::optim::AdamParamState& state_of(const torch::Tensor& p);
  void step_group(torch::optim::OptimizerParamGroup& group);

  AdamImplementation implementation_;
};

extern template class FastAdam<torch::optim::Adam>;
extern template class FastAdam<torch::optim::AdamW>;

}  // namespace cerebra_optimizers
