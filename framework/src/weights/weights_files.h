// What the weights readers share: opening a weights file with errors that
// name it, telling the formats apart by content, and the torch.save readers
// (pickle_reader.cpp). Internal to the framework library; needs torch.
#pragma once

#include <cstdint>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include "cerebra/weights.h"

namespace cerebra::detail {

// The file's size; Error naming it when it is missing or a directory.
std::uint64_t file_size_or_throw(const std::string& path);
// The file opened for binary reading; Error naming it when that fails.
std::ifstream open_or_throw(const std::string& path);

enum class WeightsFormat { TorchZip, TorchLegacy, Safetensors, Unknown };

// Told from the first bytes, never from the file name.
WeightsFormat detect_format(const std::string& path, std::uint64_t size);
// "pytorch-zip", "pytorch-legacy" or "safetensors", as WeightsReport::format says.
const char* format_name(WeightsFormat format);

// torch.save's storage class names (FloatStorage, ...) and their dtypes.
const std::map<std::string, torch::ScalarType>& torch_storage_types();

// torch.save files: the zip layout (PyTorch >= 1.6) and the legacy one.
StateDict read_torch_zip(const std::string& path);
StateDict read_torch_legacy(const std::string& path);

// load_state_dict, where the tensors named in `implied` were not read from
// the file but added as settings it implies: they load like the others and
// are reported as implied (WeightsReport::implied), yet do not count as a
// match between the file and the model.
WeightsReport load_named_tensors(torch::nn::Module& model, const StateDict& state, const std::string& source,
                                 const WeightsOptions& options, const std::set<std::string>& implied);

}  // namespace cerebra::detail
