// torch.save state dicts, in the zip layout (PyTorch >= 1.6) and the legacy
// layout (torchvision's older weights such as vgg16-397923af.pth).
//
// LibTorch 1.13 has no reader for Python-side state dicts: torch::pickle_load
// and torch::jit::Unpickler turn `collections.OrderedDict` into None (they
// only expect it as a tensor's empty backward-hooks argument), so the state
// dict itself is lost. This file therefore interprets the small subset of the
// pickle protocol that torch.save writes for a state dict, and reads the
// storages itself: from the zip records through caffe2's PyTorchStreamReader,
// or from the tail of a legacy file.
#include "weights_files.h"

#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <unordered_map>

#include <caffe2/serialize/inline_container.h>
#include <fmt/format.h>

namespace cerebra::detail {

const std::map<std::string, torch::ScalarType>& torch_storage_types() {
  static const std::map<std::string, torch::ScalarType> types{
      {"FloatStorage", torch::kFloat},    {"DoubleStorage", torch::kDouble},
      {"HalfStorage", torch::kHalf},      {"BFloat16Storage", torch::kBFloat16},
      {"LongStorage", torch::kLong},      {"IntStorage", torch::kInt},
      {"ShortStorage", torch::kShort},    {"CharStorage", torch::kChar},
      {"ByteStorage", torch::kByte},      {"BoolStorage", torch::kBool}};
  return types;
}

namespace {

// Pickle values: only what a state dict is made of.

struct Storage {
  torch::ScalarType dtype = torch::kFloat;
  std::int64_t numel = 0;
  torch::Tensor data;  // 1-D; filled when the bytes are read (after the pickle, for legacy files)
};

struct Value;
using ValuePtr = std::shared_ptr<Value>;

struct Value {
  enum class Kind { None, Bool, Int, BigInt, Float, String, Bytes, Tuple, List, Dict, Global,
                    Storage, Tensor, Object };
  Kind kind = Kind::None;
  bool boolean = false;
  std::int64_t integer = 0;  // Int; for Storage, the element offset of a legacy view
  double number = 0;
  std::string text;          // String, Bytes, BigInt (raw bytes); Global/Object: module
  std::string name;          // Global/Object: attribute name
  std::vector<ValuePtr> items;                             // Tuple, List, Object arguments
  std::vector<std::pair<ValuePtr, ValuePtr>> entries;      // Dict, in insertion order
  std::shared_ptr<Storage> storage;                        // Storage, Tensor
  std::vector<std::int64_t> sizes, strides;                // Tensor
  std::int64_t offset = 0;                                 // Tensor storage offset

  static ValuePtr make(Kind kind) {
    auto value = std::make_shared<Value>();
    value->kind = kind;
    return value;
  }
  std::string qualified() const { return text + "." + name; }
};

const char* kind_name(Value::Kind kind) {
  switch (kind) {
    case Value::Kind::None: return "None";
    case Value::Kind::Bool: return "bool";
    case Value::Kind::Int: return "int";
    case Value::Kind::BigInt: return "int";
    case Value::Kind::Float: return "float";
    case Value::Kind::String: return "str";
    case Value::Kind::Bytes: return "bytes";
    case Value::Kind::Tuple: return "tuple";
    case Value::Kind::List: return "list";
    case Value::Kind::Dict: return "dict";
    case Value::Kind::Global: return "global";
    case Value::Kind::Storage: return "storage";
    case Value::Kind::Tensor: return "tensor";
    case Value::Kind::Object: return "object";
  }
  return "?";
}

// Storage classes as torch.save names them (torch.FloatStorage, ...).
std::optional<torch::ScalarType> storage_dtype(const std::string& module, const std::string& name) {
  if (module != "torch") return std::nullopt;
  auto found = torch_storage_types().find(name);
  if (found == torch_storage_types().end()) return std::nullopt;
  return found->second;
}

// Interprets one pickle from a stream (so that a legacy file, a sequence of
// pickles followed by raw storages, can be read piece by piece).
class Unpickler {
 public:
  using PersistentLoad = std::function<ValuePtr(const ValuePtr& id)>;

  Unpickler(std::istream& in, std::uint64_t limit, std::string source, PersistentLoad load)
      : in_(in), limit_(limit), source_(std::move(source)), persistent_load_(std::move(load)) {}

  ValuePtr load() {
    stack_.clear();
    marks_.clear();
    memo_.clear();
    for (;;) {
      const auto opcode = read<std::uint8_t>();
      if (opcode == '.') {  // STOP
        if (stack_.empty()) fail("empty stack at STOP");
        return stack_.back();
      }
      step(opcode);
    }
  }

 private:
  [[noreturn]] void fail(const std::string& message) const {
    throw Error("cannot read weights file '" + source_ + "': " + message);
  }

  void read_bytes(char* out, std::uint64_t count) {
    if (count > limit_) fail("file is truncated (a record runs past its end)");
    in_.read(out, static_cast<std::streamsize>(count));
    if (static_cast<std::uint64_t>(in_.gcount()) != count) fail("file is truncated");
  }
  template <class T>
  T read() {
    T value;
    read_bytes(reinterpret_cast<char*>(&value), sizeof(T));
    return value;
  }
  std::string read_string(std::uint64_t count) {
    std::string text(count, '\0');
    read_bytes(text.data(), count);
    return text;
  }
  std::string read_line() {
    std::string line;
    for (char c = read<char>(); c != '\n'; c = read<char>()) line.push_back(c);
    return line;
  }

  ValuePtr pop() {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) fail("stack underflow");
    auto value = stack_.back();
    stack_.pop_back();
    return value;
  }
  ValuePtr& top() {
    if (stack_.empty()) fail("stack underflow");
    return stack_.back();
  }
  std::vector<ValuePtr> pop_to_mark() {
    if (marks_.empty()) fail("MARK expected");
    std::vector<ValuePtr> items(stack_.begin() + static_cast<std::ptrdiff_t>(marks_.back()), stack_.end());
    stack_.resize(marks_.back());
    marks_.pop_back();
    return items;
  }
  void push(ValuePtr value) { stack_.push_back(std::move(value)); }
  void push_int(std::int64_t integer) {
    auto value = Value::make(Value::Kind::Int);
    value->integer = integer;
    push(value);
  }
  void push_text(Value::Kind kind, std::string text) {
    auto value = Value::make(kind);
    value->text = std::move(text);
    push(value);
  }
  void push_tuple(std::vector<ValuePtr> items) {
    auto value = Value::make(Value::Kind::Tuple);
    value->items = std::move(items);
    push(value);
  }
  void push_global(std::string module, std::string name) {
    auto value = Value::make(Value::Kind::Global);
    value->text = std::move(module);
    value->name = std::move(name);
    push(value);
  }
  void push_long(const std::string& bytes) {
    // Two's complement, little-endian; what fits in 64 bits becomes an Int.
    if (bytes.size() > 8) return push_text(Value::Kind::BigInt, bytes);
    std::uint64_t raw = 0;
    for (std::size_t i = 0; i < bytes.size(); ++i) {
      raw |= static_cast<std::uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
    }
    if (!bytes.empty() && bytes.size() < 8 && (static_cast<unsigned char>(bytes.back()) & 0x80)) {
      raw |= ~std::uint64_t{0} << (8 * bytes.size());  // sign-extend
    }
    push_int(static_cast<std::int64_t>(raw));
  }
  void memo_put(std::uint64_t index) { memo_[index] = top(); }
  void memo_get(std::uint64_t index) {
    auto found = memo_.find(index);
    if (found == memo_.end()) fail("memo entry " + std::to_string(index) + " missing");
    push(found->second);
  }
  void set_items(const ValuePtr& dict, const std::vector<ValuePtr>& items) {
    if (dict->kind != Value::Kind::Dict) fail(std::string("SETITEMS on a ") + kind_name(dict->kind));
    if (items.size() % 2 != 0) fail("odd number of SETITEMS values");
    for (std::size_t i = 0; i < items.size(); i += 2) dict->entries.emplace_back(items[i], items[i + 1]);
  }

  static std::vector<std::int64_t> int_tuple(const ValuePtr& value, const char* what,
                                             const Unpickler& self) {
    if (value->kind != Value::Kind::Tuple) self.fail(std::string(what) + " is not a tuple");
    std::vector<std::int64_t> result;
    for (const auto& item : value->items) {
      if (item->kind != Value::Kind::Int) self.fail(std::string(what) + " holds a non-integer");
      result.push_back(item->integer);
    }
    return result;
  }

  ValuePtr rebuild_tensor(const std::vector<ValuePtr>& args) {
    if (args.size() < 4 || args[0]->kind != Value::Kind::Storage || args[1]->kind != Value::Kind::Int) {
      fail("unexpected arguments to torch._utils._rebuild_tensor");
    }
    auto tensor = Value::make(Value::Kind::Tensor);
    tensor->storage = args[0]->storage;
    tensor->offset = args[1]->integer + args[0]->integer;
    tensor->sizes = int_tuple(args[2], "tensor size", *this);
    tensor->strides = int_tuple(args[3], "tensor stride", *this);
    if (tensor->sizes.size() != tensor->strides.size()) fail("tensor size and stride differ in rank");
    std::int64_t last = tensor->offset;  // the furthest element the view touches
    for (std::size_t i = 0; i < tensor->sizes.size(); ++i) {
      if (tensor->sizes[i] < 0 || tensor->strides[i] < 0) fail("negative tensor size or stride");
      if (tensor->sizes[i] == 0) last = -1;
      if (last >= 0) last += (tensor->sizes[i] - 1) * tensor->strides[i];
    }
    if (last >= tensor->storage->numel) fail("tensor runs past the end of its storage");
    return tensor;
  }

  ValuePtr call(const ValuePtr& callable, const ValuePtr& arguments) {
    if (callable->kind != Value::Kind::Global) fail("call of a non-class value");
    if (arguments->kind != Value::Kind::Tuple) fail("call arguments are not a tuple");
    const auto& args = arguments->items;
    const std::string name = callable->qualified();
    if (name == "collections.OrderedDict" || name == "builtins.dict") {
      auto dict = Value::make(Value::Kind::Dict);
      if (!args.empty() && args[0]->kind == Value::Kind::List) {
        // OrderedDict([(key, value), ...]), as protocol 0/1 writers emit it.
        for (const auto& pair : args[0]->items) {
          if (pair->kind != Value::Kind::Tuple || pair->items.size() != 2) fail("bad dict item");
          dict->entries.emplace_back(pair->items[0], pair->items[1]);
        }
      }
      return dict;
    }
    if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") {
      return rebuild_tensor(args);
    }
    if (name == "torch._utils._rebuild_parameter" ||
        name == "torch._utils._rebuild_parameter_with_state") {
      if (args.empty() || args[0]->kind != Value::Kind::Tensor) fail("bad parameter arguments");
      return args[0];
    }
    // Anything else (a pickled nn.Module, a numpy scalar in a checkpoint's
    // extra entries, ...) is kept as an opaque object; it only matters if a
    // state-dict entry turns out to be one.
    auto object = Value::make(Value::Kind::Object);
    object->text = callable->text;
    object->name = callable->name;
    object->items = args;
    return object;
  }

  void step(std::uint8_t opcode) {
    switch (opcode) {
      case 0x80: read<std::uint8_t>(); break;   // PROTO
      case 0x95: read<std::uint64_t>(); break;  // FRAME
      case '(': marks_.push_back(stack_.size()); break;  // MARK
      case ')': push_tuple({}); break;                   // EMPTY_TUPLE
      case 't': push_tuple(pop_to_mark()); break;        // TUPLE
      case 0x85: { auto a = pop(); push_tuple({a}); break; }                      // TUPLE1
      case 0x86: { auto b = pop(); auto a = pop(); push_tuple({a, b}); break; }   // TUPLE2
      case 0x87: { auto c = pop(); auto b = pop(); auto a = pop(); push_tuple({a, b, c}); break; }
      case '}': push(Value::make(Value::Kind::Dict)); break;  // EMPTY_DICT
      case ']': push(Value::make(Value::Kind::List)); break;  // EMPTY_LIST
      case 'd': {  // DICT
        auto dict = Value::make(Value::Kind::Dict);
        set_items(dict, pop_to_mark());
        push(dict);
        break;
      }
      case 'l': {  // LIST
        auto list = Value::make(Value::Kind::List);
        list->items = pop_to_mark();
        push(list);
        break;
      }
      case 's': { auto value = pop(); auto key = pop(); set_items(top(), {key, value}); break; }
      case 'u': { auto items = pop_to_mark(); set_items(top(), items); break; }  // SETITEMS
      case 'a': {  // APPEND
        auto value = pop();
        if (top()->kind != Value::Kind::List) fail("APPEND to a non-list");
        top()->items.push_back(value);
        break;
      }
      case 'e': {  // APPENDS
        auto items = pop_to_mark();
        if (top()->kind != Value::Kind::List) fail("APPENDS to a non-list");
        top()->items.insert(top()->items.end(), items.begin(), items.end());
        break;
      }
      case 'N': push(Value::make(Value::Kind::None)); break;
      case 0x88: case 0x89: {  // NEWTRUE, NEWFALSE
        auto value = Value::make(Value::Kind::Bool);
        value->boolean = opcode == 0x88;
        push(value);
        break;
      }
      case 'J': push_int(read<std::int32_t>()); break;   // BININT
      case 'K': push_int(read<std::uint8_t>()); break;   // BININT1
      case 'M': push_int(read<std::uint16_t>()); break;  // BININT2
      case 0x8a: push_long(read_string(read<std::uint8_t>())); break;   // LONG1
      case 0x8b: push_long(read_string(read<std::uint32_t>())); break;  // LONG4
      case 'G': {  // BINFLOAT, big-endian
        auto raw = read<std::uint64_t>();
        raw = __builtin_bswap64(raw);
        auto value = Value::make(Value::Kind::Float);
        std::memcpy(&value->number, &raw, sizeof raw);
        push(value);
        break;
      }
      case 'X': push_text(Value::Kind::String, read_string(read<std::uint32_t>())); break;
      case 0x8c: push_text(Value::Kind::String, read_string(read<std::uint8_t>())); break;
      case 0x8d: push_text(Value::Kind::String, read_string(read<std::uint64_t>())); break;
      case 'T': push_text(Value::Kind::String, read_string(read<std::uint32_t>())); break;
      case 'U': push_text(Value::Kind::String, read_string(read<std::uint8_t>())); break;
      case 'B': push_text(Value::Kind::Bytes, read_string(read<std::uint32_t>())); break;
      case 'C': push_text(Value::Kind::Bytes, read_string(read<std::uint8_t>())); break;
      case 0x8e: push_text(Value::Kind::Bytes, read_string(read<std::uint64_t>())); break;
      case 'q': memo_put(read<std::uint8_t>()); break;   // BINPUT
      case 'r': memo_put(read<std::uint32_t>()); break;  // LONG_BINPUT
      case 0x94: memo_put(memo_.size()); break;          // MEMOIZE
      case 'h': memo_get(read<std::uint8_t>()); break;   // BINGET
      case 'j': memo_get(read<std::uint32_t>()); break;  // LONG_BINGET
      case 'c': {  // GLOBAL
        auto module = read_line();
        auto name = read_line();
        push_global(std::move(module), std::move(name));
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        auto name = pop();
        auto module = pop();
        if (name->kind != Value::Kind::String || module->kind != Value::Kind::String) {
          fail("STACK_GLOBAL of non-strings");
        }
        push_global(module->text, name->text);
        break;
      }
      case 'R': case 0x81: {  // REDUCE, NEWOBJ
        auto arguments = pop();
        auto callable = pop();
        push(call(callable, arguments));
        break;
      }
      case 'b': {  // BUILD: object state (e.g. the state dict's _metadata); not needed
        pop();
        top();
        break;
      }
      case 'Q': {  // BINPERSID
        auto id = pop();
        push(persistent_load_(id));
        break;
      }
      case '0': pop(); break;  // POP
      case '1': pop_to_mark(); break;  // POP_MARK
      case '2': push(top()); break;  // DUP
      default:
        fail(fmt::format("unsupported pickle opcode 0x{:02x} at byte {}", opcode,
                         static_cast<long long>(in_.tellg()) - 1));
    }
  }

  std::istream& in_;
  std::uint64_t limit_;
  std::string source_;
  PersistentLoad persistent_load_;
  std::vector<ValuePtr> stack_;
  std::vector<std::size_t> marks_;
  std::unordered_map<std::uint64_t, ValuePtr> memo_;
};

// ('storage', storage_type, key, location, numel[, view_metadata]) -> the
// storage, created once per key.
struct StorageTable {
  std::string source;
  std::map<std::string, std::shared_ptr<Storage>> storages;

  ValuePtr load(const ValuePtr& id) {
    auto fail = [&](const std::string& message) -> ValuePtr {
      throw Error("cannot read weights file '" + source + "': " + message);
    };
    if (id->kind != Value::Kind::Tuple || id->items.size() < 5 ||
        id->items[0]->kind != Value::Kind::String || id->items[0]->text != "storage") {
      return fail("unsupported persistent id (not a tensor storage)");
    }
    const auto& type = id->items[1];
    const auto& key = id->items[2];
    const auto& numel = id->items[4];
    if (type->kind != Value::Kind::Global || key->kind != Value::Kind::String ||
        numel->kind != Value::Kind::Int || numel->integer < 0) {
      return fail("malformed storage reference");
    }
    auto dtype = storage_dtype(type->text, type->name);
    if (!dtype) return fail("unsupported storage type " + type->qualified());
    auto& storage = storages[key->text];
    if (!storage) {
      storage = std::make_shared<Storage>();
      storage->dtype = *dtype;
      storage->numel = numel->integer;
    }
    auto value = Value::make(Value::Kind::Storage);
    value->storage = storage;
    // Legacy files may refer to a view of a storage: (view key, offset, size).
    if (id->items.size() >= 6 && id->items[5]->kind == Value::Kind::Tuple) {
      const auto& view = id->items[5]->items;
      if (view.size() != 3 || view[1]->kind != Value::Kind::Int) return fail("malformed storage view");
      value->integer = view[1]->integer;
    }
    return value;
  }
};

// The tensors of a dict of name -> tensor. A checkpoint that wraps its state
// dict ({"state_dict": ..., "epoch": ...}) is unwrapped.
StateDict to_state_dict(const ValuePtr& root, const std::string& source) {
  auto fail = [&](const std::string& message) -> StateDict {
    throw Error("weights file '" + source + "' " + message);
  };
  if (root->kind == Value::Kind::Object) {
    return fail("holds a pickled " + root->qualified() +
                " object, not a state dict; save model.state_dict() instead");
  }
  if (root->kind != Value::Kind::Dict) {
    return fail(std::string("holds a ") + kind_name(root->kind) + ", not a state dict");
  }
  bool any_tensor = false;
  for (const auto& [key, value] : root->entries) any_tensor |= value->kind == Value::Kind::Tensor;
  if (!any_tensor) {
    for (const char* wrapper : {"state_dict", "model_state_dict", "model", "module"}) {
      for (const auto& [key, value] : root->entries) {
        if (key->kind == Value::Kind::String && key->text == wrapper && value->kind == Value::Kind::Dict) {
          return to_state_dict(value, source);
        }
      }
    }
  }
  StateDict state;
  for (const auto& [key, value] : root->entries) {
    if (key->kind != Value::Kind::String) return fail("has a state-dict key that is not a string");
    if (value->kind != Value::Kind::Tensor) continue;  // e.g. extra_state objects
    const auto& storage = *value->storage;
    if (!storage.data.defined()) return fail("has no data for the tensor '" + key->text + "'");
    state.emplace_back(key->text, storage.data.as_strided(value->sizes, value->strides, value->offset));
  }
  if (state.empty()) return fail("contains no tensors");
  return state;
}

}  // namespace

StateDict read_torch_zip(const std::string& path) {
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> reader;
  try {
    reader = std::make_unique<caffe2::serialize::PyTorchStreamReader>(path);
  } catch (const c10::Error& error) {
    throw Error("cannot read weights file '" + path +
                "' as a PyTorch zip archive (truncated or damaged?): " + error.what_without_backtrace());
  }
  StorageTable table{path, {}};
  try {
    if (reader->hasRecord("byteorder")) {
      auto [data, size] = reader->getRecord("byteorder");
      if (std::string(static_cast<const char*>(data.get()), size) != "little") {
        throw Error("weights file '" + path + "' was saved on a big-endian machine; not supported");
      }
    }
    if (!reader->hasRecord("data.pkl")) throw Error("weights file '" + path + "' has no data.pkl record");
    auto [pickle, pickle_size] = reader->getRecord("data.pkl");
    std::istringstream stream(std::string(static_cast<const char*>(pickle.get()), pickle_size));
    Unpickler unpickler(stream, pickle_size, path, [&](const ValuePtr& id) { return table.load(id); });
    auto root = unpickler.load();
    for (auto& [key, storage] : table.storages) {
      const std::string record = "data/" + key;
      if (!reader->hasRecord(record)) throw Error("weights file '" + path + "' lacks the record " + record);
      auto [data, size] = reader->getRecord(record);
      const auto element = static_cast<std::uint64_t>(c10::elementSize(storage->dtype));
      if (size < static_cast<std::uint64_t>(storage->numel) * element) {
        throw Error(fmt::format("weights file '{}': record {} has {} bytes, expected {}", path, record,
                                size, storage->numel * element));
      }
      // The record, not the reference, is authoritative for the storage's length.
      storage->numel = static_cast<std::int64_t>(size / element);
      storage->data = torch::empty({storage->numel}, torch::TensorOptions().dtype(storage->dtype));
      std::memcpy(storage->data.data_ptr(), data.get(), storage->numel * element);
    }
    return to_state_dict(root, path);
  } catch (const c10::Error& error) {
    throw Error("cannot read weights file '" + path + "': " + error.what_without_backtrace());
  }
}

// torch.save(..., _use_new_zipfile_serialization=False) and PyTorch < 1.6:
// pickles of the magic number, protocol version, system info, the object and
// the storage keys, then each storage as an int64 element count and raw bytes.
StateDict read_torch_legacy(const std::string& path) {
  const auto size = file_size_or_throw(path);
  auto in = open_or_throw(path);
  StorageTable table{path, {}};
  auto no_storages = [&](const ValuePtr&) -> ValuePtr {
    throw Error("cannot read weights file '" + path + "': unexpected storage reference");
  };
  Unpickler header(in, size, path, no_storages);
  auto magic = header.load();
  static const std::string kMagic("\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 10);
  if (magic->kind != Value::Kind::BigInt || magic->text != kMagic) {
    throw Error("weights file '" + path + "' is a pickle but not a torch.save file (no magic number)");
  }
  auto protocol = header.load();
  if (protocol->kind != Value::Kind::Int || protocol->integer != 1001) {
    throw Error("weights file '" + path + "' uses an unsupported legacy torch.save protocol");
  }
  header.load();  // system info: byte order and type sizes of the writer
  Unpickler body(in, size, path, [&](const ValuePtr& id) { return table.load(id); });
  auto root = body.load();
  auto keys = header.load();
  if (keys->kind != Value::Kind::List) throw Error("weights file '" + path + "' has no storage list");
  for (const auto& key : keys->items) {
    if (key->kind != Value::Kind::String || !table.storages.count(key->text)) {
      throw Error("weights file '" + path + "' lists an unknown storage");
    }
    auto& storage = *table.storages[key->text];
    std::int64_t count = 0;
    in.read(reinterpret_cast<char*>(&count), sizeof count);
    const auto element = static_cast<std::int64_t>(c10::elementSize(storage.dtype));
    const auto remaining = static_cast<std::int64_t>(size) - static_cast<std::int64_t>(in.tellg());
    // The pickle already checked its tensors against the referenced length.
    if (!in || count != storage.numel || count > remaining / element) {
      throw Error("weights file '" + path + "' is truncated or damaged (storage " + key->text + ")");
    }
    storage.numel = count;
    storage.data = torch::empty({count}, torch::TensorOptions().dtype(storage.dtype));
    in.read(static_cast<char*>(storage.data.data_ptr()), count * element);
    if (in.gcount() != count * element) {
      throw Error("weights file '" + path + "' is truncated or damaged (storage " + key->text + ")");
    }
  }
  return to_state_dict(root, path);
}

}  // namespace cerebra::detail
