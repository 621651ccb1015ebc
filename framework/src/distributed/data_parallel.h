// What the trainer asks of a data-parallel job: its loaders sharded, the
// model equal on every rank at the start, each step's gradients and figures
// summed over the ranks, and evaluation outputs gathered. Torch, no c10d.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "cerebra/data.h"
#include "communicator.h"

namespace cerebra::detail {

struct EvaluationRows;

// One step's figures: the loss summed over its images, the images right and in all.
struct StepTotals {
  double loss_sum = 0;
  double correct = 0;
  double images = 0;
  bool stop = false;  // some rank was interrupted: every rank stops before this step's update
};

class DataParallel {
 public:
  explicit DataParallel(std::unique_ptr<Communicator> communicator);
  ~DataParallel();

  int rank() const { return communicator_->rank(); }
  int size() const { return communicator_->size(); }
  // Rank 0 writes the run directory; the others train alongside.
  bool writer() const { return rank() == 0; }
  Communicator& communicator() { return *communicator_; }

  // `options` for this rank: the pipeline's batch_size stays the global
  // batch, split evenly (Error when it does not divide by the world size).
  LoaderOptions shard(LoaderOptions options, bool training) const;

  // Every parameter and buffer of `model` set to rank 0's.
  void broadcast_model(torch::nn::Module& model);
  // Buffers only: batch-norm running statistics, which each rank updates
  // from its own shard of the batch. Rank 0's are kept, as PyTorch's DDP
  // does (broadcast_buffers=True); batch statistics are not synchronised.
  void broadcast_buffers(torch::nn::Module& model);

  // Sums the gradients of `parameters` over the ranks, each rank's weighed by
  // `weight` (its images / the global batch's), so the result is the
  // gradient of the global batch's mean loss; sums `local`'s figures too.
  // Gradients that are undefined (unused parameters) stay undefined; every
  // rank must leave the same ones undefined.
  StepTotals reduce_step(const std::vector<torch::Tensor>& parameters, double weight, const StepTotals& local,
                         std::size_t step);

  // Seeds torch's generator (dropout) for `epoch` with a stream of this
  // rank's own: with one stream the ranks would draw the same masks for
  // different images, which one process never does. Derived from the run's
  // seed and the epoch, so a resumed run draws the same.
  void seed_epoch(std::uint64_t seed, int epoch) const;

  // Error unless every rank holds bit-identical parameters and buffers (a
  // hash of their bytes compared over the ranks): the promise of the
  // synchronised updates, checked where it is cheap (once per epoch).
  void check_identical(torch::nn::Module& model, const std::string& when);

  // True on every rank when it is true on any (rank 0's callbacks decide to stop).
  bool any(bool local, const std::string& what);

  // Replaces this rank's evaluation rows with every rank's, in sample order.
  void gather(EvaluationRows& rows);

 private:
  void broadcast_in_place(std::vector<torch::Tensor>& tensors, const std::string& what);

  std::unique_ptr<Communicator> communicator_;
  std::size_t bucket_bytes_ = std::size_t{25} << 20;  // as PyTorch's DDP
};

}  // namespace cerebra::detail
