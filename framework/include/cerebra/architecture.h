// Interface of `architecture` components. This header needs torch; include it
// only where a model is built or trained (architecture_info.h has the rest).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "cerebra/architecture_info.h"
#include "cerebra/registry.h"

namespace cerebra {

struct ClassifierOutput {
  torch::Tensor logits;
  torch::Tensor aux_logits;  // undefined unless the network has an auxiliary head (training only)
};

// A network split into a feature extractor and a classification head.
class ClassifierModel : public torch::nn::Module {
 public:
  virtual torch::Tensor features(const torch::Tensor& input) = 0;
  virtual torch::Tensor head(const torch::Tensor& features) = 0;
  virtual ClassifierOutput forward_all(const torch::Tensor& input) {
    return {head(features(input)), {}};
  }
  torch::Tensor forward(const torch::Tensor& input) { return forward_all(input).logits; }
};

class Architecture : public Component {
 public:
  ~Architecture() override;

  virtual ArchitectureInfo info() const = 0;
  virtual std::shared_ptr<ClassifierModel> build(std::int64_t num_classes) const = 0;
};

}  // namespace cerebra
