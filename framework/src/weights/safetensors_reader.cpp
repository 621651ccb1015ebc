// safetensors (timm, Hugging Face): an 8-byte header length, a JSON header
// naming each tensor's dtype, shape and byte range, then the raw data.
#include "weights_files.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cerebra/files.h"

namespace cerebra {

namespace {

using detail::file_size_or_throw;
using detail::open_or_throw;

// safetensors dtype names.
const std::map<std::string, torch::ScalarType>& safetensors_types() {
  static const std::map<std::string, torch::ScalarType> types{
      {"F64", torch::kDouble}, {"F32", torch::kFloat}, {"F16", torch::kHalf},
      {"BF16", torch::kBFloat16}, {"I64", torch::kLong}, {"I32", torch::kInt},
      {"I16", torch::kShort}, {"I8", torch::kChar}, {"U8", torch::kByte}, {"BOOL", torch::kBool}};
  return types;
}

}  // namespace

StateDict read_safetensors(const std::string& path) {
  const auto size = file_size_or_throw(path);
  auto in = open_or_throw(path);
  std::uint64_t header_size = 0;
  in.read(reinterpret_cast<char*>(&header_size), sizeof header_size);
  if (in.gcount() != sizeof header_size || header_size > size - 8) {
    throw Error("weights file '" + path + "' is truncated (incomplete safetensors header)");
  }
  std::string header(header_size, '\0');
  in.read(header.data(), static_cast<std::streamsize>(header_size));
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(header);
  } catch (const nlohmann::json::exception& error) {
    throw Error("weights file '" + path + "' has a malformed safetensors header: " + error.what());
  }
  if (!json.is_object()) throw Error("weights file '" + path + "' has a malformed safetensors header");
  const std::uint64_t data_start = 8 + header_size;
  const std::uint64_t data_size = size - data_start;

  struct Entry {
    std::string name;
    torch::ScalarType dtype;
    std::vector<std::int64_t> shape;
    std::uint64_t begin, end;
  };
  std::vector<Entry> entries;
  for (const auto& [name, info] : json.items()) {
    if (name == "__metadata__") continue;
    auto bad = [&](const std::string& what) {
      return Error("weights file '" + path + "': tensor '" + name + "' " + what);
    };
    try {
      const auto dtype_name = info.at("dtype").get<std::string>();
      auto dtype = safetensors_types().find(dtype_name);
      if (dtype == safetensors_types().end()) throw bad("has unsupported dtype " + dtype_name);
      Entry entry{name, dtype->second, info.at("shape").get<std::vector<std::int64_t>>(),
                  info.at("data_offsets").at(0).get<std::uint64_t>(),
                  info.at("data_offsets").at(1).get<std::uint64_t>()};
      std::uint64_t numel = 1;
      for (auto dim : entry.shape) {
        if (dim < 0) throw bad("has a negative dimension");
        numel *= static_cast<std::uint64_t>(dim);
      }
      if (entry.end < entry.begin || entry.end - entry.begin != numel * c10::elementSize(entry.dtype)) {
        throw bad("has data offsets that do not match its shape and dtype");
      }
      if (entry.end > data_size) {
        throw Error(fmt::format("weights file '{}' is truncated: tensor '{}' ends at byte {} but the "
                                "file has {} data bytes",
                                path, name, entry.end, data_size));
      }
      entries.push_back(std::move(entry));
    } catch (const nlohmann::json::exception& error) {
      throw bad(std::string("has a malformed header entry: ") + error.what());
    }
  }
  // The JSON object is not ordered; keep file (offset) order.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.begin < b.begin; });
  StateDict state;
  for (const auto& entry : entries) {
    auto tensor = torch::empty(entry.shape, torch::TensorOptions().dtype(entry.dtype));
    in.seekg(static_cast<std::streamoff>(data_start + entry.begin));
    in.read(static_cast<char*>(tensor.data_ptr()), static_cast<std::streamsize>(entry.end - entry.begin));
    if (static_cast<std::uint64_t>(in.gcount()) != entry.end - entry.begin) {
      throw Error("weights file '" + path + "' is truncated (tensor '" + entry.name + "')");
    }
    state.emplace_back(entry.name, tensor);
  }
  return state;
}

std::string safetensors_bytes(const StateDict& tensors) {
  std::map<torch::ScalarType, std::string> names;
  for (const auto& [name, type] : safetensors_types()) names[type] = name;
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  std::vector<torch::Tensor> data;
  std::uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    if (header.contains(name)) throw Error("write_safetensors: duplicate tensor name '" + name + "'");
    auto type = names.find(tensor.scalar_type());
    if (type == names.end()) throw Error("write_safetensors: unsupported dtype for '" + name + "'");
    auto contiguous = tensor.detach().to(torch::kCPU).contiguous();
    const std::uint64_t bytes = contiguous.numel() * contiguous.element_size();
    header[name] = {{"dtype", type->second},
                    {"shape", contiguous.sizes().vec()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    data.push_back(contiguous);
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // keeps the tensor data 8-byte aligned
  std::string out;
  out.reserve(8 + text.size() + offset);
  const std::uint64_t length = text.size();
  out.append(reinterpret_cast<const char*>(&length), sizeof length);
  out += text;
  for (const auto& tensor : data) {
    out.append(static_cast<const char*>(tensor.data_ptr()), tensor.numel() * tensor.element_size());
  }
  return out;
}

void write_safetensors(const std::string& path, const StateDict& tensors) {
  write_file_atomically(path, safetensors_bytes(tensors));
}

}  // namespace cerebra
