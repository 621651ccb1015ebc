#include "precision.h"

#include <dlfcn.h>

#include <cmath>
#include <map>
#include <mutex>

#include <ATen/autocast_mode.h>
#include <fmt/format.h>
#include <torch/version.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "cerebra/error.h"

// LibTorch 2.4 replaced the per-device autocast functions (set_enabled,
// set_cpu_enabled, ...) by ones that take the device type.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define CEREBRA_AUTOCAST_BY_DEVICE_TYPE 1
#endif

namespace cerebra::detail {

const char* precision_name(Precision precision) {
  switch (precision) {
    case Precision::bf16: return "bf16";
    case Precision::fp16: return "fp16";
    default: return "fp32";
  }
}

namespace {

// Native bf16 arithmetic, from CPUID: AMX-BF16 (leaf 7.0, EDX bit 22) or
// AVX512-BF16 (leaf 7.1, EAX bit 5). oneDNN runs bf16 convolutions and matrix
// products on these; without them bf16 is emulated and slower than fp32.
std::string cpu_bf16_support() {
#if defined(__x86_64__) || defined(__i386__)
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) && (edx & (1u << 22))) return "AMX-BF16";
  if (__get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx) && (eax & (1u << 5))) return "AVX512-BF16";
#endif
  return "";
}

// The GPU's compute capability from the CUDA driver, opened at run time so
// that the same build runs on machines without CUDA; 0 when unknown.
int cuda_capability_major(int ordinal) {
  void* driver = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
  if (!driver) return 0;
  using Init = int (*)(unsigned);
  using Get = int (*)(int*, int);
  using Attribute = int (*)(int*, int, int);
  auto init = reinterpret_cast<Init>(dlsym(driver, "cuInit"));
  auto get = reinterpret_cast<Get>(dlsym(driver, "cuDeviceGet"));
  auto attribute = reinterpret_cast<Attribute>(dlsym(driver, "cuDeviceGetAttribute"));
  int device = 0, major = 0;
  constexpr int compute_capability_major = 75;  // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
  if (!init || !get || !attribute || init(0) != 0 || get(&device, ordinal) != 0 ||
      attribute(&major, compute_capability_major, device) != 0) {
    major = 0;
  }
  return major;  // the driver stays loaded: CUDA itself holds it
}

}  // namespace

ComputeFacts compute_facts(const torch::Device& device) {
  ComputeFacts facts;
  if (device.is_cuda()) {
    facts.cuda = true;
    // Read once per GPU: every evaluation asks again (evaluation_precision),
    // and the driver's cuInit is not free.
    static std::mutex mutex;
    static std::map<int, int> majors;
    const int ordinal = device.has_index() ? device.index() : 0;
    std::lock_guard<std::mutex> lock(mutex);
    auto found = majors.find(ordinal);
    if (found == majors.end()) found = majors.emplace(ordinal, cuda_capability_major(ordinal)).first;
    facts.cuda_major = found->second;
  } else {
    static const std::string cpu_bf16 = cpu_bf16_support();
    facts.cpu_bf16 = cpu_bf16;
  }
  return facts;
}

PrecisionChoice choose_precision(const std::string& setting, const ComputeFacts& facts) {
  if (setting == "fp32") return {Precision::fp32, "fp32 as [run] precision asks"};
  if (facts.cuda) {
    if (setting == "fp16") return {Precision::fp16, "fp16 autocast with a dynamic loss scale, as asked"};
    if (setting == "bf16") {
      return {Precision::bf16, facts.cuda_major >= 8 ? "bf16 autocast, as asked"
                                                     : "bf16 autocast, as asked (this GPU has no bf16 matrix units "
                                                       "before compute capability 8: expect it to be slow)"};
    }
    if (facts.cuda_major >= 8) return {Precision::bf16, "auto: bf16 autocast (the GPU has bf16 matrix units; no loss scale needed)"};
    return {Precision::fp16, "auto: fp16 autocast with a dynamic loss scale (no bf16 matrix units on this GPU)"};
  }
  if (setting == "fp16") {
    throw Error("[run] precision = \"fp16\" needs a CUDA device; on a CPU use \"bf16\" (or \"auto\")");
  }
  if (setting == "bf16") {
    return {Precision::bf16, facts.cpu_bf16.empty()
                                 ? "bf16 autocast, as asked (this processor has no native bf16 arithmetic: it is "
                                   "emulated, slower than fp32)"
                                 : "bf16 autocast, as asked (" + facts.cpu_bf16 + ")"};
  }
  if (setting != "auto") {
    throw Error("[run] precision = \"" + setting + "\": expected auto, fp32, bf16 or fp16");
  }
  // Measured on AVX512-BF16 (docs/results.md, "bf16 against fp32"): bf16
  // trains faster but less accurately (br35h_cnn -1.27 points over five
  // seeds, br35h_resnet50_scratch128 -2.7), so "fastest at equal accuracy"
  // is fp32 on a CPU; bf16 stays one setting away.
  if (facts.cpu_bf16.empty()) return {Precision::fp32, "auto: fp32 (this processor has no native bf16 arithmetic)"};
  return {Precision::fp32, "auto: fp32 (the processor has " + facts.cpu_bf16 +
                               ", but bf16 autocast cost accuracy in docs/results.md; precision = \"bf16\" trains "
                               "1.7-5.5x faster)"};
}

Precision evaluation_precision(const std::string& setting, const torch::Device& device) {
  const ComputeFacts facts = compute_facts(device);
  if (setting == "fp16" && !facts.cuda) return Precision::fp32;
  return choose_precision(setting, facts).precision;
}

AutocastScope::AutocastScope(const torch::Device& device, Precision precision) {
  if (precision == Precision::fp32) return;
  active_ = true;
  cuda_ = device.is_cuda();
  const at::ScalarType type = precision == Precision::bf16 ? at::kBFloat16 : at::kHalf;
#ifdef CEREBRA_AUTOCAST_BY_DEVICE_TYPE
  const auto device_type = cuda_ ? at::kCUDA : at::kCPU;
  was_enabled_ = at::autocast::is_autocast_enabled(device_type);
  previous_type_ = at::autocast::get_autocast_dtype(device_type);
  at::autocast::set_autocast_dtype(device_type, type);
  at::autocast::set_autocast_enabled(device_type, true);
#else
  if (cuda_) {
    was_enabled_ = at::autocast::is_enabled();
    previous_type_ = at::autocast::get_autocast_gpu_dtype();
    at::autocast::set_autocast_gpu_dtype(type);
    at::autocast::set_enabled(true);
  } else {
    was_enabled_ = at::autocast::is_cpu_enabled();
    previous_type_ = at::autocast::get_autocast_cpu_dtype();
    at::autocast::set_autocast_cpu_dtype(type);
    at::autocast::set_cpu_enabled(true);
  }
#endif
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
#ifdef CEREBRA_AUTOCAST_BY_DEVICE_TYPE
  const auto device_type = cuda_ ? at::kCUDA : at::kCPU;
  at::autocast::set_autocast_enabled(device_type, was_enabled_);
  at::autocast::set_autocast_dtype(device_type, previous_type_);
#else
  if (cuda_) {
    at::autocast::set_enabled(was_enabled_);
    at::autocast::set_autocast_gpu_dtype(previous_type_);
  } else {
    at::autocast::set_cpu_enabled(was_enabled_);
    at::autocast::set_autocast_cpu_dtype(previous_type_);
  }
#endif
  // The cache holds low-precision copies of the weights, valid only until the
  // optimizer changes them.
  if (!was_enabled_) at::autocast::clear_cache();
}

void update_scale_rule(double& scale, std::int64_t& good_steps, bool found_inf, const LossScaler::Options& options) {
  if (found_inf) {
    scale *= options.backoff;
    good_steps = 0;
    return;
  }
  if (++good_steps < options.growth_interval) return;
  const double grown = scale * options.growth;
  if (std::isfinite(grown)) scale = grown;
  good_steps = 0;
}

LossScaler::LossScaler(const torch::Device& device, Options options)
    : options_(options), kernels_(device.is_cuda()) {
  const auto on_device = torch::TensorOptions().device(device);
  scale_ = torch::full({1}, options.initial_scale, on_device.dtype(torch::kFloat));
  growth_tracker_ = torch::zeros({1}, on_device.dtype(torch::kInt));
  found_inf_ = torch::zeros({1}, on_device.dtype(torch::kFloat));
}

bool LossScaler::unscale(const std::vector<torch::Tensor>& parameters) {
  std::vector<torch::Tensor> grads;
  for (const auto& p : parameters) {
    if (p.grad().defined()) grads.push_back(p.grad());
  }
  found_inf_.zero_();
  const torch::Tensor inverse = scale_.to(torch::kDouble).reciprocal().to(torch::kFloat);
  if (kernels_) {
    at::_amp_foreach_non_finite_check_and_unscale_(grads, found_inf_, inverse);
  } else {
    for (auto& g : grads) {
      g.mul_(inverse);
      found_inf_.add_(g.isfinite().logical_not().any().to(torch::kFloat));
    }
    found_inf_.clamp_max_(1);
  }
  return found_inf_.item<float>() == 0.0f;  // the one synchronisation of the step
}

void LossScaler::update() {
  if (kernels_) {
    at::_amp_update_scale_(scale_, growth_tracker_, found_inf_, options_.growth, options_.backoff,
                           options_.growth_interval);
    return;
  }
  double scale = current_scale();
  std::int64_t good = good_steps();
  update_scale_rule(scale, good, found_inf_.item<float>() != 0.0f, options_);
  restore(scale, good);
}

double LossScaler::current_scale() const { return scale_.item<double>(); }

std::int64_t LossScaler::good_steps() const { return growth_tracker_.item<std::int64_t>(); }

void LossScaler::restore(double scale, std::int64_t good_steps) {
  scale_.fill_(scale);
  growth_tracker_.fill_(good_steps);
}

}  // namespace cerebra::detail
