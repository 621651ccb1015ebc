// Interface of `architecture` components. This header needs torch; include it
// only where a model is built or trained (architecture_info.h has the rest).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "cerebra/architecture_info.h"
#include "cerebra/error.h"
#include "cerebra/registry.h"

namespace cerebra {

// Names and tensors in file order: a state dict, as weights files hold it.
using StateDict = std::vector<std::pair<std::string, torch::Tensor>>;

// What ClassifierModel's Grad-CAM defaults throw: the model cannot be cut at
// its Grad-CAM layer.
class GradcamUnsupported : public Error {
 public:
  using Error::Error;
};

struct GradcamExtent {
  double left, top, right, bottom;
};

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

  // The network cut at ArchitectureInfo::gradcam_layer, for Grad-CAM
  // (LibTorch has no forward hooks): forward_to_gradcam_layer(x) is that
  // module's output for input x, and forward_from_gradcam_layer(a) the logits
  // computed from such an output, so that in eval mode
  //   forward_from_gradcam_layer(forward_to_gradcam_layer(x)) == forward(x).
  // The defaults throw GradcamUnsupported: an architecture that declares a Grad-CAM
  // layer overrides both (the conformance test checks the identity).
  virtual torch::Tensor forward_to_gradcam_layer(const torch::Tensor& input);
  virtual torch::Tensor forward_from_gradcam_layer(const torch::Tensor& activation);
  // Where the Grad-CAM layer's map lies on an input of `height` x `width`:
  // the edges of its first and last cells, in input pixels. The default, the
  // whole input, holds for padded networks whose strides divide the input
  // (VGG16, ResNet50 at 224); a network of unpadded convolutions sees a
  // smaller central region, and a map stretched over the whole input would
  // be drawn too wide (the study's CNN: columns 7 to 55 of 64).
  virtual GradcamExtent gradcam_extent(std::int64_t height, std::int64_t width) const {
    return {0.0, 0.0, static_cast<double>(width), static_cast<double>(height)};
  }

  // Buffers of this model that published weights files (torchvision's,
  // timm's) lack, each with the value such weights imply. load_weights adds
  // them to a published file's tensors where the file has none of that name,
  // so they load (and are reported) with the rest; checkpoints carry them
  // like any buffer. Inception v3's transform_input is one: torchvision turns
  // it on whenever its published weights are used.
  virtual StateDict published_weights_settings() const { return {}; }
};

class Architecture : public Component {
 public:
  ~Architecture() override;

  virtual ArchitectureInfo info() const = 0;
  virtual std::shared_ptr<ClassifierModel> build(std::int64_t num_classes) const = 0;
};

// One vector per image from ClassifierModel::features(): spatial maps are
// averaged ([n, c, h, w] -> [n, c]); vectors pass as they are. What the
// contrastive head and the linear probe both see.
inline torch::Tensor pooled_features(const torch::Tensor& features) {
  return features.dim() > 2 ? features.flatten(2).mean(2) : features;
}

}  // namespace cerebra
