// Loading published ImageNet weights into an architecture.
//
// Two formats, told apart by their content rather than the file name:
//  - PyTorch `torch.save` files (.pth/.pt/.bin) holding a state dict, in both
//    the zip layout (PyTorch >= 1.6; torchvision's newer weights) and the
//    legacy layout (torchvision's older weights such as vgg16-397923af.pth);
//  - safetensors (timm / Hugging Face), with F32/F16/BF16/F64 and integer
//    tensors.
// Tensors are matched to the model's parameters and buffers by name; only the
// head the architecture declares may differ in shape.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "cerebra/architecture.h"
#include "cerebra/error.h"

namespace cerebra {

// Reads a whole state dict; throws Error naming the file when it is missing,
// truncated, or not one of the supported formats.
StateDict read_state_dict(const std::string& path);
StateDict read_torch_state_dict(const std::string& path);
StateDict read_safetensors(const std::string& path);

// Writes tensors as safetensors (contiguous CPU copies; names must be unique),
// atomically (cerebra/files.h); safetensors_bytes is the file's content.
void write_safetensors(const std::string& path, const StateDict& tensors);
std::string safetensors_bytes(const StateDict& tensors);

// A state dict as Python's torch.save writes it (the zip layout), which
// torch.load reads, with weights_only=True too: an OrderedDict of contiguous
// CPU tensors in the order given.
std::string torch_state_dict_bytes(const StateDict& tensors);

// What `cerebra export` writes of a model: its parameters and buffers in
// torchvision's state_dict order, as contiguous CPU tensors, without the
// settings published files lack (ClassifierModel::published_weights_settings),
// so torchvision's module of the same architecture loads them strictly.
StateDict exported_state_dict(ClassifierModel& model);

struct WeightsOptions {
  // The classification head's module paths (matched on whole path
  // components), as the architecture declares them: the last of its layer
  // groups (see weights_options_for). Tensors inside may differ in shape from
  // the file, e.g. for another class count, and are then left at their fresh
  // initialisation and reported. A shape difference anywhere else is an
  // Error; with no head given, every tensor must match.
  std::vector<std::string> head_prefixes;
  // When true, model tensors absent from the file and file tensors matching
  // nothing are errors instead of report entries.
  bool strict = false;
};

struct WeightsReport {
  struct Entry {
    std::string name;
    std::string reason;
  };
  std::string file;
  std::string format;                 // "pytorch-zip", "pytorch-legacy" or "safetensors"
  std::vector<std::string> loaded;    // model tensors set from the file
  std::vector<Entry> initialised;     // model tensors left as initialised, and why
  std::vector<std::string> unused;    // file tensors that match nothing in the model
  std::vector<std::string> implied;   // settings a published file lacks, set as it implies
                                      // (ClassifierModel::published_weights_settings)
  std::string stripped_prefix;        // e.g. "module." when every key carried it

  // One paragraph for the trainer's log.
  std::string summary() const;
};

// The options that let `info`'s declared head (its last layer group) differ
// in shape from a weights file.
WeightsOptions weights_options_for(const ArchitectureInfo& info);

// Loads the published weights file `path` into `model` (parameters and
// buffers, including batch-norm `num_batches_tracked`, and the settings such
// files imply). A shape mismatch outside the head is an Error naming the
// tensor, the file and both shapes; so is a file none of whose tensors match
// the model. The model's tensors keep their dtype and device.
WeightsReport load_weights(ClassifierModel& model, const std::string& path,
                           const WeightsOptions& options = {});

// Starting weights for a run: a run directory (its best checkpoint), a
// Cerebra checkpoint (.pt), or a published weights file (.pth, .safetensors).
WeightsReport load_starting_weights(ClassifierModel& model, const std::string& path,
                                    const WeightsOptions& options = {});

// The same for an already-read state dict (`source` names it in messages).
WeightsReport load_state_dict(torch::nn::Module& model, const StateDict& state,
                              const std::string& source, const WeightsOptions& options = {});

}  // namespace cerebra
