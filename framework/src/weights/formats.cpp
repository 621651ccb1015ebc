// Which reader a weights file needs, told from its first bytes, and the
// entry points that read a file and load it into a model.
#include "weights_files.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>

namespace cerebra {

namespace detail {

namespace fs = std::filesystem;

std::uint64_t file_size_or_throw(const std::string& path) {
  std::error_code error;
  if (!fs::exists(path, error)) throw Error("weights file '" + path + "' does not exist");
  if (fs::is_directory(path, error)) throw Error("weights file '" + path + "' is a directory");
  auto size = fs::file_size(path, error);
  if (error) throw Error("cannot read weights file '" + path + "': " + error.message());
  return size;
}

std::ifstream open_or_throw(const std::string& path) {
  file_size_or_throw(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open weights file '" + path + "': " + std::strerror(errno));
  return in;
}

WeightsFormat detect_format(const std::string& path, std::uint64_t size) {
  auto in = open_or_throw(path);
  char head[9] = {};
  in.read(head, sizeof head);
  const auto got = in.gcount();
  if (got >= 4 && std::memcmp(head, "PK\x03\x04", 4) == 0) return WeightsFormat::TorchZip;
  // Before the pickle test: a header length's low byte may well be 0x80.
  if (got == 9 && head[8] == '{') {
    std::uint64_t length = 0;
    std::memcpy(&length, head, 8);
    if (length <= size - 8) return WeightsFormat::Safetensors;
  }
  // PROTO n, then LONG1: the magic number that opens every legacy file.
  if (got >= 3 && static_cast<unsigned char>(head[0]) == 0x80 &&
      static_cast<unsigned char>(head[1]) <= 5 && static_cast<unsigned char>(head[2]) == 0x8a) {
    return WeightsFormat::TorchLegacy;
  }
  return WeightsFormat::Unknown;
}

const char* format_name(WeightsFormat format) {
  switch (format) {
    case WeightsFormat::TorchZip: return "pytorch-zip";
    case WeightsFormat::TorchLegacy: return "pytorch-legacy";
    case WeightsFormat::Safetensors: return "safetensors";
    case WeightsFormat::Unknown: break;
  }
  return "unknown";
}

}  // namespace detail

using namespace detail;

StateDict read_torch_state_dict(const std::string& path) {
  const auto size = file_size_or_throw(path);
  switch (detect_format(path, size)) {
    case WeightsFormat::TorchZip: return read_torch_zip(path);
    case WeightsFormat::TorchLegacy: return read_torch_legacy(path);
    default: throw Error("weights file '" + path + "' is not a torch.save file");
  }
}

StateDict read_state_dict(const std::string& path) {
  const auto size = file_size_or_throw(path);
  switch (detect_format(path, size)) {
    case WeightsFormat::TorchZip: return read_torch_zip(path);
    case WeightsFormat::TorchLegacy: return read_torch_legacy(path);
    case WeightsFormat::Safetensors: return read_safetensors(path);
    case WeightsFormat::Unknown: break;
  }
  throw Error("weights file '" + path +
              "' is neither a torch.save file nor safetensors (or it is truncated to nothing)");
}

namespace {

// The settings a published file implies and lacks, added to its tensors.
std::set<std::string> add_implied_settings(const ClassifierModel& model, StateDict& state) {
  std::set<std::string> present;
  for (const auto& entry : state) present.insert(entry.first);
  std::set<std::string> added;
  for (auto& [name, value] : model.published_weights_settings()) {
    if (present.count(name)) continue;
    state.emplace_back(name, value);
    added.insert(name);
  }
  return added;
}

}  // namespace

WeightsReport load_weights(ClassifierModel& model, const std::string& path,
                           const WeightsOptions& options) {
  const auto size = file_size_or_throw(path);
  const auto format = detect_format(path, size);
  auto state = read_state_dict(path);
  const auto implied = add_implied_settings(model, state);
  auto report = load_named_tensors(model, state, path, options, implied);
  report.format = format_name(format);
  return report;
}

}  // namespace cerebra
