// Writing a state dict as torch.save does (the zip layout of PyTorch >= 1.6),
// so that Python's torch.load reads it, with weights_only=True too.
//
// LibTorch's own torch::pickle_save cannot be used: it tags the dict it
// writes with its key and value types (a torch.jit-only construct), which
// Python's restricted unpickler (weights_only=True) refuses. What Python
// writes for a state dict is small, so it is written here by hand: data.pkl,
// a protocol-2 pickle of an OrderedDict whose values are
// torch._utils._rebuild_tensor_v2 calls on persistent storages, and one
// record data/N per storage; the caffe2 zip writer adds the version record.
#include "weights_files.h"

#include <cstring>
#include <limits>

#include <caffe2/serialize/inline_container.h>

namespace cerebra {

namespace {

// The few pickle opcodes a state dict needs (Python's pickletools names).
class PickleWriter {
 public:
  PickleWriter() { text_ += "\x80\x02"; }  // PROTO 2, as torch.save writes
  void global(const std::string& module, const std::string& name) { text_ += "c" + module + "\n" + name + "\n"; }
  void mark() { text_ += '('; }
  void tuple() { text_ += 't'; }  // the items since the mark
  void empty_tuple() { text_ += ')'; }
  void reduce() { text_ += 'R'; }
  void persistent_id() { text_ += 'Q'; }
  void set_items() { text_ += 'u'; }
  void boolean(bool value) { text_ += value ? '\x88' : '\x89'; }
  void stop() { text_ += '.'; }
  void string(const std::string& value) {
    text_ += 'X';
    append_little_endian(static_cast<std::uint32_t>(value.size()), 4);
    text_ += value;
  }
  void integer(std::int64_t value) {
    if (value >= std::numeric_limits<std::int32_t>::min() && value <= std::numeric_limits<std::int32_t>::max()) {
      text_ += 'J';  // BININT: 4-byte signed
      append_little_endian(static_cast<std::uint32_t>(static_cast<std::int32_t>(value)), 4);
    } else {
      text_ += "\x8a\x08";  // LONG1 of 8 bytes, two's complement
      append_little_endian(static_cast<std::uint64_t>(value), 8);
    }
  }
  void integers(const std::vector<std::int64_t>& values) {
    mark();
    for (auto value : values) integer(value);
    tuple();
  }
  // collections.OrderedDict(): the state dict itself and each tensor's (empty) backward hooks.
  void ordered_dict() {
    global("collections", "OrderedDict");
    empty_tuple();
    reduce();
  }
  const std::string& text() const { return text_; }

 private:
  void append_little_endian(std::uint64_t value, int bytes) {
    for (int i = 0; i < bytes; ++i) text_ += static_cast<char>((value >> (8 * i)) & 0xff);
  }
  std::string text_;
};

std::string storage_class(const std::string& name, torch::ScalarType dtype) {
  for (const auto& [class_name, type] : detail::torch_storage_types()) {
    if (type == dtype) return class_name;
  }
  throw Error(std::string("cannot write tensor '") + name + "' as torch.save: unsupported dtype " +
              c10::toString(dtype));
}

}  // namespace

std::string torch_state_dict_bytes(const StateDict& tensors) {
  std::vector<torch::Tensor> storages;
  PickleWriter pickle;
  pickle.ordered_dict();
  pickle.mark();
  for (const auto& [name, tensor] : tensors) {
    // Contiguous (NCHW, whatever layout training used) CPU copies: one storage each.
    auto data = tensor.detach().to(torch::kCPU).contiguous();
    const std::string key = std::to_string(storages.size());
    pickle.string(name);
    pickle.global("torch._utils", "_rebuild_tensor_v2");
    pickle.mark();
    {
      pickle.mark();  // the persistent id: ('storage', torch.FloatStorage, key, 'cpu', numel)
      pickle.string("storage");
      pickle.global("torch", storage_class(name, data.scalar_type()));
      pickle.string(key);
      pickle.string("cpu");
      pickle.integer(data.numel());
      pickle.tuple();
      pickle.persistent_id();
      pickle.integer(0);  // storage offset
      pickle.integers(data.sizes().vec());
      pickle.integers(data.strides().vec());
      pickle.boolean(false);  // requires_grad
      pickle.ordered_dict();  // backward hooks
    }
    pickle.tuple();
    pickle.reduce();
    storages.push_back(data);
  }
  pickle.set_items();
  pickle.stop();

  std::string bytes;
  caffe2::serialize::PyTorchStreamWriter writer([&bytes](const void* data, std::size_t size) {
    bytes.append(static_cast<const char*>(data), size);
    return size;
  });
  writer.writeRecord("data.pkl", pickle.text().data(), pickle.text().size());
  for (std::size_t i = 0; i < storages.size(); ++i) {
    writer.writeRecord("data/" + std::to_string(i), storages[i].data_ptr(),
                       static_cast<std::size_t>(storages[i].numel()) * storages[i].element_size());
  }
  writer.writeEndOfFile();
  return bytes;
}

}  // namespace cerebra
