// Dropout whose masks belong to the images, not to the process that draws
// them. During a training step the trainer says which slice of the global
// batch this forward pass holds and the step's seed (BatchSliceScope); a
// BatchDropout layer then draws the mask of the whole global batch from that
// seed and keeps its slice's rows. Two data-parallel ranks with half a batch
// each therefore apply exactly the masks one process applies to the whole
// batch, and a resumed run draws the masks the uninterrupted one drew.
// Outside a scope (evaluation, a user's own loop) it is torch's Dropout.
// Needs torch: include it only in architecture plugins and the trainer.
#pragma once

#include <cstdint>

#include <torch/nn/modules/dropout.h>

namespace cerebra {

struct BatchSlice {
  std::uint64_t seed = 0;    // this step's draws (the trainer mixes run seed, epoch and step)
  std::int64_t offset = 0;   // the first image of this forward pass in the global batch
  std::int64_t global = 0;   // images in the global batch
};

// Makes `slice` the current one on this thread until destroyed (nesting
// restores the outer one). Each BatchDropout call in the scope draws from its
// own stream (seed, call number), so two layers, or two views of one batch,
// get independent masks.
class BatchSliceScope {
 public:
  explicit BatchSliceScope(const BatchSlice& slice);
  ~BatchSliceScope();
  BatchSliceScope(const BatchSliceScope&) = delete;
  BatchSliceScope& operator=(const BatchSliceScope&) = delete;

  BatchSlice slice;
  std::uint64_t draws = 0;  // BatchDropout calls so far in this scope

 private:
  BatchSliceScope* previous_;
};

// The keep-mask (0 or 1, float) of rows [offset, offset + rows) of the
// global batch's mask for the next call in the current scope; shape
// {rows, sizes[1:]...}. Throws cerebra::Error outside a scope.
torch::Tensor batch_keep_mask(torch::IntArrayRef sizes, double keep);

// A torch::nn::Dropout (so code that asks for one, such as export, finds it)
// whose forward follows the current BatchSlice in training mode.
class BatchDropoutImpl : public torch::nn::DropoutImpl {
 public:
  using torch::nn::DropoutImpl::DropoutImpl;
  torch::Tensor forward(torch::Tensor input);
};
TORCH_MODULE(BatchDropout);

}  // namespace cerebra
