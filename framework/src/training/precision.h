// Mixed precision: which floating-point type the forward pass computes in
// ([run] precision), the autocast scope that applies it, and the dynamic loss
// scaler that float16 needs. Master weights, optimizer state, the loss,
// metrics and checkpoints stay float32 whatever is chosen. Internal to the
// framework library; needs torch.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace cerebra::detail {

enum class Precision { fp32, bf16, fp16 };

const char* precision_name(Precision precision);

// What the choice depends on, read off the machine (compute_facts) or made
// up by a test.
struct ComputeFacts {
  bool cuda = false;
  int cuda_major = 0;            // compute capability; bf16 tensor cores from 8 (Ampere)
  std::string cpu_bf16;          // "AMX-BF16", "AVX512-BF16" or "" (no native bf16 arithmetic)
};

ComputeFacts compute_facts(const torch::Device& device);

struct PrecisionChoice {
  Precision precision = Precision::fp32;
  std::string reason;  // one line for the run log and summary.json
};

// `setting`: "auto", "fp32", "bf16" or "fp16". An Error where the device cannot
// run the request (fp16 on a CPU); bf16 without native support on a CPU runs,
// emulated and slow, with a reason that says so.
PrecisionChoice choose_precision(const std::string& setting, const ComputeFacts& facts);

// The precision evaluation and prediction run in: the training choice, but
// fp32 where the device cannot run it (a run trained in fp16 on a GPU, then
// evaluated on a CPU).
Precision evaluation_precision(const std::string& setting, const torch::Device& device);

// Autocast for `precision` on `device` while in scope (nothing for fp32);
// restores the previous state and drops the cast-weight cache on exit.
class AutocastScope {
 public:
  AutocastScope(const torch::Device& device, Precision precision);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool active_ = false;
  bool cuda_ = false;
  bool was_enabled_ = false;
  at::ScalarType previous_type_ = at::kFloat;
};

// Dynamic loss scaling for float16, as PyTorch's GradScaler does it: the loss
// is multiplied by `scale` before backward; the gradients are unscaled and
// checked in one pass; a step with an inf or NaN gradient is skipped and the
// scale multiplied by `backoff`; after `growth_interval` good steps in a row
// the scale is multiplied by `growth`. On CUDA the unscale and the update are
// ATen's _amp_ kernels (no device synchronisation per parameter, one per
// step to decide whether to skip it); elsewhere the same rule on the host.
class LossScaler {
 public:
  struct Options {
    double initial_scale = 65536.0;
    double growth = 2.0;
    double backoff = 0.5;
    std::int64_t growth_interval = 2000;
  };
  LossScaler(const torch::Device& device, Options options);

  torch::Tensor scale(const torch::Tensor& loss) const { return loss * scale_; }
  // Unscales the defined gradients of `parameters` in place; true when every
  // one is finite (then the optimizer may step).
  bool unscale(const std::vector<torch::Tensor>& parameters);
  // After the step (taken or skipped): grows or backs off the scale.
  void update();

  double current_scale() const;
  std::int64_t good_steps() const;  // good steps since the last change of scale
  // For checkpoints: the scale and the good-step count.
  void restore(double scale, std::int64_t good_steps);

 private:
  Options options_;
  bool kernels_;  // ATen's _amp_ kernels (CUDA), else the host rule
  torch::Tensor scale_;           // float [1] on the device
  torch::Tensor growth_tracker_;  // int32 [1] on the device
  torch::Tensor found_inf_;       // float [1] on the device: 1 after unscale() saw inf/NaN
};

// The host rule of LossScaler::update, on plain numbers; exposed for tests.
void update_scale_rule(double& scale, std::int64_t& good_steps, bool found_inf, const LossScaler::Options& options);

}  // namespace cerebra::detail
