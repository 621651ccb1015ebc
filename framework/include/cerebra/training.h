// Interfaces of the training components that touch tensors: `loss`,
// `optimizer` and `objective`. Needs torch; include it only where a model is
// trained. (Schedules and callbacks are torch-free: schedule.h, callback.h.)
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "cerebra/architecture.h"
#include "cerebra/registry.h"

namespace cerebra {

// What a loss learns about the data before training starts.
struct LossContext {
  std::vector<std::string> class_names;
  std::vector<std::int64_t> class_counts;  // training images per class (coarse labels not counted)
  torch::Device device = torch::kCPU;
  // Coarse labels ([extra_training]): a label k + j (k classes) means "one of
  // the classes label_sets[j]". Empty when every label is a class.
  std::vector<std::vector<int>> label_sets;
};

// Which classes each label accepts: [k + sets, k] floats, rows 0..k-1 the
// identity, row k + j ones at label_sets[j]'s classes. A prediction is right
// when its class is accepted; a coarse label's likelihood is the summed
// probability of its classes.
torch::Tensor label_acceptance(std::size_t classes, const std::vector<std::vector<int>>& label_sets,
                               torch::Device device = torch::kCPU);

class Loss : public Component {
 public:
  ~Loss() override;
  virtual void prepare(const LossContext& context) { (void)context; }
  // Mean loss of a batch: `logits` [n, classes] in float, `labels` [n] class indices.
  virtual torch::Tensor compute(const torch::Tensor& logits, const torch::Tensor& labels) const = 0;
};

// Parameters that share a learning rate. The trainer makes "backbone" and
// "head" (the architecture's last layer group); empty groups are left out.
struct ParameterGroup {
  std::string name;
  std::vector<torch::Tensor> parameters;
  double learning_rate = 0;  // base rate, set by the optimizer component
};

class Optimizer : public Component {
 public:
  ~Optimizer() override;
  // A torch optimizer over `groups` (in order), each group's base rate set.
  virtual std::unique_ptr<torch::optim::Optimizer> build(std::vector<ParameterGroup>& groups) const = 0;
};

// What an objective needs from the loader.
struct ObjectiveNeeds {
  int views = 1;        // independently augmented views of each image per batch
  bool labels = true;   // false: a self-supervised objective
};

// One training batch as the objective sees it; implemented by the trainer,
// which may serve cached backbone features behind forward().
class StepInputs {
 public:
  virtual ~StepInputs() = default;
  virtual std::size_t views() const = 0;
  virtual const torch::Tensor& input(std::size_t view) const = 0;  // [n, c, h, w]
  virtual const torch::Tensor& labels() const = 0;                 // [n]; -1 where unknown
  virtual ClassifierOutput forward(std::size_t view) = 0;
  virtual ClassifierModel& model() = 0;
  virtual const Loss& loss() const = 0;
};

struct StepResult {
  torch::Tensor loss;    // scalar to minimise
  torch::Tensor logits;  // [n, classes] for the training accuracy; may be undefined
};

// What an objective learns about the run before training starts.
struct ObjectiveContext {
  torch::Device device = torch::kCPU;
  // The model's input as the preprocess stages fix it; 0 where they do not.
  std::int64_t channels = 3, height = 0, width = 0;
};

// What one training step computes from a batch.
class Objective : public Component {
 public:
  ~Objective() override;
  virtual ObjectiveNeeds needs() const { return {}; }
  // Modules the objective owns (a projection head, say) are built here, on
  // the model's device; their parameters train with the head's learning rate.
  virtual void prepare(ClassifierModel& model, const ObjectiveContext& context) { (void)model, (void)context; }
  virtual std::vector<torch::Tensor> parameters() { return {}; }
  virtual StepResult step(StepInputs& inputs) = 0;
};

}  // namespace cerebra
