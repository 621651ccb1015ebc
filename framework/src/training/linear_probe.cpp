#include "linear_probe.h"

#include "model_runtime.h"

namespace cerebra::detail {

namespace {

struct Features {
  torch::Tensor x, y;  // [n, d] float, [n] long
};

// Pooled features of every labelled image of a loader, in evaluation mode.
Features features_of(ClassifierModel& model, ImageLoader& loader, const torch::Device& device,
                         bool channels_last) {
  std::vector<torch::Tensor> rows;
  std::vector<std::int64_t> labels;
  loader.start_epoch(0);
  Batch batch;
  while (loader.next(batch)) {
    const torch::Tensor f =
        pooled_features(model.features(to_input(batch, device, channels_last))).to(torch::kFloat).to(torch::kCPU);
    for (std::int64_t i = 0; i < batch.n; ++i) {
      const std::int64_t label = batch.labels[static_cast<std::size_t>(i)];
      if (label < 0) continue;
      rows.push_back(f[i]);
      labels.push_back(label);
    }
  }
  if (rows.empty()) return {};
  return {torch::stack(rows), torch::tensor(labels, torch::kLong)};
}

}  // namespace

ProbeResult linear_probe(ClassifierModel& model, ImageLoader& train, ImageLoader& val, std::int64_t classes,
                         const torch::Device& device, bool channels_last) {
  torch::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  Features fit = features_of(model, train, device, channels_last);
  Features score = features_of(model, val, device, channels_last);
  model.train(was_training);
  ProbeResult result;
  if (!fit.x.defined() || !score.x.defined()) return result;
  result.train_images = static_cast<std::size_t>(fit.x.size(0));
  result.val_images = static_cast<std::size_t>(score.x.size(0));

  // A ridge (least-squares) classifier on standardised features, solved in
  // closed form: one well-shaped Gram matrix instead of hundreds of skinny
  // gradient steps, which took most of a CNN pretraining epoch's time.
  const torch::Tensor mean = fit.x.mean(0), scale = fit.x.std(0).clamp_min(1e-6);
  const torch::Tensor x = (fit.x - mean) / scale, x_val = (score.x - mean) / scale;
  const torch::Tensor targets = torch::one_hot(fit.y, classes).to(torch::kFloat);
  const auto n = static_cast<double>(x.size(0));
  const torch::Tensor gram = x.t().matmul(x) / n + 0.1 * torch::eye(x.size(1));
  const torch::Tensor target_mean = targets.mean(0);
  const torch::Tensor weight = torch::linalg_solve(gram, x.t().matmul(targets - target_mean) / n);
  const torch::Tensor predicted = (x_val.matmul(weight) + target_mean).argmax(1);
  result.accuracy = predicted.eq(score.y).to(torch::kDouble).mean().item<double>();
  return result;
}

}  // namespace cerebra::detail
