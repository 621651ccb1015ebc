// Gradient buckets, model broadcast and evaluation gathering over a Communicator.
#include "data_parallel.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "../data/seeding.h"
#include "../training/model_runtime.h"
#include "cerebra/error.h"

namespace cerebra::detail {

namespace {

// Consecutive gradients of one dtype, up to `cap` bytes each (a larger
// gradient gets a bucket of its own).
std::vector<std::vector<torch::Tensor>> buckets_of(const std::vector<torch::Tensor>& gradients, std::size_t cap) {
  std::vector<std::vector<torch::Tensor>> buckets;
  std::size_t bytes = 0;
  for (const auto& gradient : gradients) {
    const std::size_t size = static_cast<std::size_t>(gradient.numel()) * gradient.element_size();
    const bool fits = !buckets.empty() && bytes + size <= cap && buckets.back().front().dtype() == gradient.dtype();
    if (!fits) {
      buckets.emplace_back();
      bytes = 0;
    }
    buckets.back().push_back(gradient);
    bytes += size;
  }
  return buckets;
}

// Each evaluated image as one float64 row: index, label, loss, probabilities.
torch::Tensor pack(const EvaluationRows& rows, std::int64_t count) {
  const auto classes = static_cast<std::int64_t>(rows.classes);
  torch::Tensor packed = torch::full({count, 3 + classes}, -1.0, torch::kDouble);
  auto out = packed.accessor<double, 2>();
  for (std::size_t i = 0; i < rows.indices.size(); ++i) {
    const auto k = static_cast<std::int64_t>(i);
    out[k][0] = static_cast<double>(rows.indices[i]);
    out[k][1] = static_cast<double>(rows.labels[i]);
    out[k][2] = rows.losses[i];
    for (std::int64_t c = 0; c < classes; ++c) out[k][3 + c] = rows.probabilities[i * rows.classes + c];
  }
  return packed;
}

// FNV-1a over the bytes of every parameter and buffer.
std::int64_t model_hash(torch::nn::Module& model) {
  std::uint64_t hash = 1469598103934665603ull;
  auto add = [&](const torch::Tensor& tensor) {
    const torch::Tensor bytes = tensor.detach().to(torch::kCPU).contiguous();
    const auto* data = static_cast<const unsigned char*>(bytes.data_ptr());
    for (std::size_t i = 0; i < bytes.nbytes(); ++i) hash = (hash ^ data[i]) * 1099511628211ull;
  };
  for (const auto& parameter : model.parameters()) add(parameter);
  for (const auto& buffer : model.buffers()) add(buffer);
  return static_cast<std::int64_t>(hash);
}

}  // namespace

DataParallel::DataParallel(std::unique_ptr<Communicator> communicator) : communicator_(std::move(communicator)) {}

DataParallel::~DataParallel() = default;

LoaderOptions DataParallel::shard(LoaderOptions options, bool training) const {
  const auto ranks = static_cast<std::size_t>(size());
  if (training && options.batch_size % ranks != 0) {
    throw Error(fmt::format("[training] batch_size = {} is the global batch of a data-parallel run and must divide "
                            "evenly among its {} ranks; choose a multiple of {}",
                            options.batch_size, ranks, ranks));
  }
  // Evaluation outputs do not depend on the batch, so it need not divide.
  options.batch_size = (options.batch_size + ranks - 1) / ranks;
  options.shard_rank = static_cast<std::size_t>(rank());
  options.shard_count = ranks;
  options.every_shard_nonempty = training;
  return options;
}

void DataParallel::broadcast_model(torch::nn::Module& model) {
  std::vector<torch::Tensor> tensors;
  for (const auto& parameter : model.parameters()) tensors.push_back(parameter.detach());
  for (const auto& buffer : model.buffers()) tensors.push_back(buffer);
  broadcast_in_place(tensors, "the broadcast of rank 0's model");
}

void DataParallel::broadcast_buffers(torch::nn::Module& model) {
  std::vector<torch::Tensor> buffers = model.buffers();
  if (!buffers.empty()) broadcast_in_place(buffers, "the broadcast of rank 0's batch-norm statistics");
}

// Gloo sends contiguous tensors only; channels-last weights go as a copy.
void DataParallel::broadcast_in_place(std::vector<torch::Tensor>& tensors, const std::string& what) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> sent;
  for (const auto& tensor : tensors) sent.push_back(tensor.is_contiguous() ? tensor : tensor.contiguous());
  communicator_->broadcast(sent, what);
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    if (!sent[i].is_same(tensors[i])) tensors[i].copy_(sent[i]);
  }
}

StepTotals DataParallel::reduce_step(const std::vector<torch::Tensor>& parameters, double weight,
                                     const StepTotals& local, std::size_t step) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> gradients;
  for (const auto& parameter : parameters) {
    if (parameter.grad().defined()) gradients.push_back(parameter.grad());
  }
  const auto buckets = buckets_of(gradients, bucket_bytes_);
  // The figures ride along at the end of the last bucket, so a model whose
  // gradients fit one bucket costs one all-reduce a step, not two (one round
  // trip less; docs/distributed.md). Float32 holds the counts exactly and the
  // loss sum to 1e-7. The gradient count checks that every rank sends the
  // same gradients.
  const bool ride = !buckets.empty() && (buckets.back().front().scalar_type() == torch::kFloat ||
                                         buckets.back().front().scalar_type() == torch::kDouble);
  const auto figures = torch::tensor({local.loss_sum, local.correct, local.images, local.stop ? 1.0 : 0.0,
                                      static_cast<double>(gradients.size())},
                                     ride ? buckets.back().front().scalar_type() : torch::kDouble);
  std::vector<torch::Tensor> flat;
  for (std::size_t b = 0; b < buckets.size(); ++b) {
    std::vector<torch::Tensor> views;
    std::int64_t elements = 0;
    for (const auto& gradient : buckets[b]) {
      views.push_back(gradient.reshape({-1}));
      elements += gradient.numel();
    }
    if (ride && b + 1 == buckets.size()) views.push_back(figures);
    flat.push_back(torch::cat(views));
    flat.back().narrow(0, 0, elements).mul_(weight);
  }
  if (!ride) flat.push_back(figures);
  communicator_->all_reduce_sum(flat, fmt::format("the gradient all-reduce of step {}", step));
  for (std::size_t b = 0; b < buckets.size(); ++b) {
    std::int64_t offset = 0;
    for (const auto& gradient : buckets[b]) {
      gradient.copy_(flat[b].narrow(0, offset, gradient.numel()).view_as(gradient));
      offset += gradient.numel();
    }
  }
  const torch::Tensor summed = flat.back().narrow(0, flat.back().numel() - 5, 5).to(torch::kDouble);
  const auto totals = summed.accessor<double, 1>();
  if (totals[4] != static_cast<double>(gradients.size()) * size()) {
    throw Error(fmt::format("step {}: the ranks computed gradients for different parameters ({} here, {} in all "
                            "over {} ranks); the model must use the same parameters on every rank",
                            step, gradients.size(), totals[4], size()));
  }
  return {totals[0], totals[1], totals[2], totals[3] > 0};
}

void DataParallel::seed_epoch(std::uint64_t seed, int epoch) const {
  torch::manual_seed(mix_seed({seed, 0xd15ull, static_cast<std::uint64_t>(epoch), static_cast<std::uint64_t>(rank())}));
}

void DataParallel::check_identical(torch::nn::Module& model, const std::string& when) {
  const auto hashes = communicator_->all_gather(torch::tensor({model_hash(model)}, torch::kLong),
                                                "the parameter check " + when);
  for (int r = 1; r < size(); ++r) {
    if (hashes[static_cast<std::size_t>(r)].item<std::int64_t>() != hashes[0].item<std::int64_t>()) {
      throw Error(fmt::format("rank {}'s parameters differ from rank 0's {}; the ranks no longer train one model "
                              "(a nondeterministic layer, or ranks built from different pipelines)",
                              r, when));
    }
  }
}

bool DataParallel::any(bool local, const std::string& what) {
  std::vector<torch::Tensor> flag{torch::tensor({local ? 1.0 : 0.0}, torch::kDouble)};
  communicator_->all_reduce_sum(flag, what);
  return flag[0].item<double>() > 0;
}

void DataParallel::gather(EvaluationRows& rows) {
  // Ranks evaluate different numbers of images; Gloo's all-gather wants one
  // shape, so every rank pads to the largest count with index -1.
  const auto counts = communicator_->all_gather(
      torch::tensor({static_cast<std::int64_t>(rows.indices.size())}, torch::kLong), "the evaluation's image counts");
  std::int64_t largest = 0;
  for (const auto& count : counts) largest = std::max(largest, count.item<std::int64_t>());
  const auto parts = communicator_->all_gather(pack(rows, largest), "the evaluation's outputs");
  std::vector<std::vector<double>> all;
  for (const auto& part : parts) {
    auto in = part.accessor<double, 2>();
    for (std::int64_t k = 0; k < part.size(0); ++k) {
      if (in[k][0] < 0) continue;
      all.emplace_back(part[k].data_ptr<double>(), part[k].data_ptr<double>() + part.size(1));
    }
  }
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a[0] < b[0]; });
  EvaluationRows merged;
  merged.classes = rows.classes;
  for (const auto& row : all) {
    merged.indices.push_back(static_cast<std::size_t>(row[0]));
    merged.labels.push_back(static_cast<std::int64_t>(row[1]));
    merged.losses.push_back(static_cast<float>(row[2]));
    for (std::size_t c = 0; c < rows.classes; ++c) merged.probabilities.push_back(static_cast<float>(row[3 + c]));
  }
  rows = std::move(merged);
}

}  // namespace cerebra::detail
