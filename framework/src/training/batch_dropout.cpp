// Per-image dropout masks; see batch_dropout.h for why.
#include "cerebra/batch_dropout.h"

#include <vector>

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>

#include "../data/seeding.h"
#include "cerebra/error.h"

namespace cerebra {

namespace {

thread_local BatchSliceScope* current = nullptr;

}  // namespace

// The scope lives on the trainer's stack for one step; no allocation per step.
BatchSliceScope::BatchSliceScope(const BatchSlice& slice) : slice(slice), previous_(current) { current = this; }

BatchSliceScope::~BatchSliceScope() { current = previous_; }

torch::Tensor batch_keep_mask(torch::IntArrayRef sizes, double keep) {
  if (!current) throw Error("batch_keep_mask: called outside a BatchSliceScope");
  const BatchSlice& slice = current->slice;
  const std::int64_t rows = sizes.empty() ? 1 : sizes[0];
  if (slice.offset < 0 || slice.offset + rows > slice.global) {
    throw Error(fmt::format("batch dropout: a forward pass of {} images at offset {} does not fit a global "
                            "batch of {}",
                            rows, slice.offset, slice.global));
  }
  std::vector<std::int64_t> shape(sizes.begin(), sizes.end());
  if (shape.empty()) shape.push_back(1);
  shape[0] = slice.global;
  // The whole global batch's mask, always on the CPU with one generator, so
  // every rank and every device draws the same values.
  auto generator = at::make_generator<at::CPUGeneratorImpl>(detail::mix_seed({slice.seed, current->draws++}));
  const torch::Tensor mask = torch::empty(shape, torch::kFloat).bernoulli_(keep, generator);
  return mask.narrow(0, slice.offset, rows);
}

torch::Tensor BatchDropoutImpl::forward(torch::Tensor input) {
  const double p = options.p();
  if (!is_training() || p == 0.0 || !current) return torch::nn::DropoutImpl::forward(input);
  if (p == 1.0) return input * 0;
  // The kept units' scale folded into the mask: one multiplication of the input.
  const torch::Tensor mask = batch_keep_mask(input.sizes(), 1.0 - p).mul_(1.0 / (1.0 - p));
  return input * mask.to(input.device(), input.scalar_type());
}

}  // namespace cerebra
