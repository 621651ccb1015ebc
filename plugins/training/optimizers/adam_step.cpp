#include "adam_step.h"

#include <cmath>
#include <sstream>
#include <type_traits>

#include <ATen/Parallel.h>

#include "cerebra/error.h"

namespace cerebra_optimizers {

AdamImplementation adam_implementation(const std::string& name) {
  if (name == "fused") return AdamImplementation::fused;
  if (name == "foreach") return AdamImplementation::foreach_kernels;
  if (name == "auto") return AdamImplementation::automatic;
  throw cerebra::Error("[optimizer] implementation = \"" + name + "\": expected auto, fused, foreach or torch");
}

namespace {

struct ElementSettings {
  float beta1, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, inverse_sqrt_correction2,
      negative_step_size, weight_factor;
  bool l2;
};

// The element loop, vectorised for the widest unit the processor has (GCC
// function multi-versioning picks at load time). Arithmetic in the order of
// torch's Adam: m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
// p += -step_size * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
__attribute__((target_clones("avx512f", "avx2", "default"))) void update_range(
    float* __restrict param, float* __restrict m, float* __restrict v, const float* __restrict grad,
    std::int64_t begin, std::int64_t end, const ElementSettings s) {
  for (std::int64_t i = begin; i < end; ++i) {
    float p = param[i] * s.weight_factor;  // AdamW's decoupled decay (1 otherwise)
    const float g = s.l2 ? grad[i] + s.weight_decay * param[i] : grad[i];
    const float mi = m[i] * s.beta1 + s.one_minus_beta1 * g;
    const float vi = v[i] * s.beta2 + s.one_minus_beta2 * (g * g);
    const float denom = __builtin_sqrtf(vi) * s.inverse_sqrt_correction2 + s.eps;
    m[i] = mi;
    v[i] = vi;
    param[i] = p + s.negative_step_size * (mi / denom);
  }
}

// Every tensor float32 on the CPU, dense and laid out alike (channels-last
// weights included: their gradients and moments take the weights' strides),
// so that the update can walk the four buffers in memory order.
bool fusable(const torch::Tensor& p, const torch::Tensor& grad, const torch::optim::AdamParamState& state) {
  for (const torch::Tensor* t : {&p, &grad, &state.exp_avg(), &state.exp_avg_sq()}) {
    if (!t->device().is_cpu() || t->scalar_type() != torch::kFloat || t->is_sparse() ||
        !t->is_non_overlapping_and_dense() || t->strides() != p.strides() || t->sizes() != p.sizes()) {
      return false;
    }
  }
  return true;
}

// The key torch's optimizers file a parameter's state under: a string in
// LibTorch 1.x, the TensorImpl pointer in 2.x.
template <class Key>
Key state_key(const torch::Tensor& p) {
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream key;
    key << p.unsafeGetTensorImpl();
    return key.str();
  } else {
    return p.unsafeGetTensorImpl();
  }
}

}  // namespace

void fused_adam_update(torch::Tensor& param, torch::Tensor& exp_avg, torch::Tensor& exp_avg_sq,
                       const torch::Tensor& grad, std::int64_t step, const AdamStepSettings& settings) {
  const double correction1 = 1 - std::pow(settings.beta1, static_cast<double>(step));
  const double correction2 = 1 - std::pow(settings.beta2, static_cast<double>(step));
  ElementSettings s{};
  s.beta1 = static_cast<float>(settings.beta1);
  s.one_minus_beta1 = static_cast<float>(1 - settings.beta1);
  s.beta2 = static_cast<float>(settings.beta2);
  s.one_minus_beta2 = static_cast<float>(1 - settings.beta2);
  s.eps = static_cast<float>(settings.eps);
  s.weight_decay = static_cast<float>(settings.weight_decay);
  s.inverse_sqrt_correction2 = static_cast<float>(1 / std::sqrt(correction2));
  s.negative_step_size = static_cast<float>(-settings.learning_rate / correction1);
  s.l2 = !settings.decoupled_decay && settings.weight_decay != 0;
  s.weight_factor = settings.decoupled_decay ? static_cast<float>(1 - settings.learning_rate * settings.weight_decay)
                                             : 1.0f;
  float* p = param.data_ptr<float>();
  float* m = exp_avg.data_ptr<float>();
  float* v = exp_avg_sq.data_ptr<float>();
  const float* g = grad.data_ptr<float>();
  // Large enough that a thread's share outweighs waking it.
  constexpr std::int64_t grain = 1 << 16;
  at::parallel_for(0, param.numel(), grain,
                   [&](std::int64_t begin, std::int64_t end) { update_range(p, m, v, g, begin, end, s); });
}

template <class TorchAdam>
torch::optim::AdamParamState& FastAdam<TorchAdam>::state_of(const torch::Tensor& p) {
  using Key = typename std::decay_t<decltype(this->state_)>::key_type;
  const Key key = state_key<Key>(p);
  auto found = this->state_.find(key);
  if (found == this->state_.end()) {
    auto state = std::make_unique<torch::optim::AdamParamState>();
    state->step(0);
    state->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
    state->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
    found = this->state_.emplace(key, std::move(state)).first;
  }
  return static_cast<torch::optim::AdamParamState&>(*found->second);
}

template <class TorchAdam>
void FastAdam<TorchAdam>::step_group(torch::optim::OptimizerParamGroup& group) {
  auto& options = static_cast<Options&>(group.options());
  if (options.amsgrad()) throw cerebra::Error("adam: amsgrad is not supported by the fused implementation");
  AdamStepSettings settings{options.lr(), std::get<0>(options.betas()), std::get<1>(options.betas()), options.eps(),
                            options.weight_decay(), decoupled};
  std::vector<torch::Tensor> params, grads, exp_avgs, exp_avg_sqs;
  std::vector<std::int64_t> steps;
  for (auto& p : group.params()) {
    if (!p.grad().defined()) continue;
    torch::optim::AdamParamState& state = state_of(p);
    state.step(state.step() + 1);
    const torch::Tensor& grad = p.grad();
    if (implementation_ != AdamImplementation::foreach_kernels && fusable(p, grad, state)) {
      torch::Tensor param = p, m = state.exp_avg(), v = state.exp_avg_sq();
      fused_adam_update(param, m, v, grad, state.step(), settings);
      continue;
    }
    if (implementation_ == AdamImplementation::fused) {
      throw cerebra::Error("adam: implementation = \"fused\" needs float32 parameters on the CPU; use \"auto\"");
    }
    params.push_back(p);
    grads.push_back(grad);
    exp_avgs.push_back(state.exp_avg());
    exp_avg_sqs.push_back(state.exp_avg_sq());
    steps.push_back(state.step());
  }
  if (params.empty()) return;
  // The rest with multi-tensor kernels, as PyTorch's _multi_tensor_adam.
  if (decoupled && settings.weight_decay != 0) at::_foreach_mul_(params, 1 - settings.learning_rate * settings.weight_decay);
  if (!decoupled && settings.weight_decay != 0) grads = at::_foreach_add(grads, params, settings.weight_decay);
  at::_foreach_mul_(exp_avgs, settings.beta1);
  at::_foreach_add_(exp_avgs, grads, 1 - settings.beta1);
  at::_foreach_mul_(exp_avg_sqs, settings.beta2);
  at::_foreach_addcmul_(exp_avg_sqs, grads, grads, 1 - settings.beta2);
  std::vector<c10::Scalar> sqrt_corrections2, negative_step_sizes;
  for (std::int64_t step : steps) {
    sqrt_corrections2.emplace_back(std::sqrt(1 - std::pow(settings.beta2, static_cast<double>(step))));
    negative_step_sizes.emplace_back(-settings.learning_rate / (1 - std::pow(settings.beta1, static_cast<double>(step))));
  }
  std::vector<torch::Tensor> denominators = at::_foreach_sqrt(exp_avg_sqs);
  at::_foreach_div_(denominators, sqrt_corrections2);
  at::_foreach_add_(denominators, settings.eps);
  at::_foreach_addcdiv_(params, exp_avgs, denominators, negative_step_sizes);
}

template <class TorchAdam>
torch::Tensor FastAdam<TorchAdam>::step(torch::optim::Optimizer::LossClosure closure) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss;
  if (closure) {
    torch::AutoGradMode enable_grad(true);
    loss = closure();
  }
  for (auto& group : this->param_groups_) step_group(group);
  return loss;
}

template class FastAdam<torch::optim::Adam>;
template class FastAdam<torch::optim::AdamW>;

}  // namespace cerebra_optimizers
