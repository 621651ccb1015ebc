// Reading published weights: torch.save state dicts (zip and legacy layouts)
// and safetensors, then matching them to a model by name.
//
// LibTorch 1.13 has no reader for Python-side state dicts: torch::pickle_load
// and torch::jit::Unpickler turn `collections.OrderedDict` into None (they
// only expect it as a tensor's empty backward-hooks argument), so the state
// dict itself is lost. This file therefore interprets the small subset of the
// pickle protocol that torch.save writes for a state dict, and reads the
// storages itself: from the zip records through caffe2's PyTorchStreamReader,
// or from the tail of a legacy file.
#include "cerebra/weights.h"
#include "module_path.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <unordered_map>

#include <caffe2/serialize/inline_container.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace cerebra {

namespace {

namespace fs = std::filesystem;

std::string shape_string(c10::IntArrayRef sizes) { return fmt::format("[{}]", fmt::join(sizes, ", ")); }

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

// ---------------------------------------------------------------------------
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
  static const std::map<std::string, torch::ScalarType> types{
      {"FloatStorage", torch::kFloat},    {"DoubleStorage", torch::kDouble},
      {"HalfStorage", torch::kHalf},      {"BFloat16Storage", torch::kBFloat16},
      {"LongStorage", torch::kLong},      {"IntStorage", torch::kInt},
      {"ShortStorage", torch::kShort},    {"CharStorage", torch::kChar},
      {"ByteStorage", torch::kByte},      {"BoolStorage", torch::kBool}};
  auto found = types.find(name);
  if (found == types.end()) return std::nullopt;
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

// safetensors dtype names.
const std::map<std::string, torch::ScalarType>& safetensors_types() {
  static const std::map<std::string, torch::ScalarType> types{
      {"F64", torch::kDouble}, {"F32", torch::kFloat}, {"F16", torch::kHalf},
      {"BF16", torch::kBFloat16}, {"I64", torch::kLong}, {"I32", torch::kInt},
      {"I16", torch::kShort}, {"I8", torch::kChar}, {"U8", torch::kByte}, {"BOOL", torch::kBool}};
  return types;
}

enum class Format { TorchZip, TorchLegacy, Safetensors, Unknown };

Format detect(const std::string& path, std::uint64_t size) {
  auto in = open_or_throw(path);
  char head[9] = {};
  in.read(head, sizeof head);
  const auto got = in.gcount();
  if (got >= 4 && std::memcmp(head, "PK\x03\x04", 4) == 0) return Format::TorchZip;
  // Before the pickle test: a header length's low byte may well be 0x80.
  if (got == 9 && head[8] == '{') {
    std::uint64_t length = 0;
    std::memcpy(&length, head, 8);
    if (length <= size - 8) return Format::Safetensors;
  }
  // PROTO n, then LONG1: the magic number that opens every legacy file.
  if (got >= 3 && static_cast<unsigned char>(head[0]) == 0x80 &&
      static_cast<unsigned char>(head[1]) <= 5 && static_cast<unsigned char>(head[2]) == 0x8a) {
    return Format::TorchLegacy;
  }
  return Format::Unknown;
}

using detail::in_module;

std::string list_some(const std::vector<std::string>& names, std::size_t most = 6) {
  if (names.size() <= most) return join(names);
  std::vector<std::string> shown(names.begin(), names.begin() + static_cast<std::ptrdiff_t>(most));
  return join(shown) + fmt::format(" and {} more", names.size() - most);
}

}  // namespace

StateDict read_torch_state_dict(const std::string& path) {
  const auto size = file_size_or_throw(path);
  switch (detect(path, size)) {
    case Format::TorchZip: return read_torch_zip(path);
    case Format::TorchLegacy: return read_torch_legacy(path);
    default: throw Error("weights file '" + path + "' is not a torch.save file");
  }
}

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

void write_safetensors(const std::string& path, const StateDict& tensors) {
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
  std::ofstream out(path, std::ios::binary);
  if (!out) throw Error("cannot write '" + path + "': " + std::strerror(errno));
  const std::uint64_t length = text.size();
  out.write(reinterpret_cast<const char*>(&length), sizeof length);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  for (const auto& tensor : data) {
    out.write(static_cast<const char*>(tensor.data_ptr()),
              static_cast<std::streamsize>(tensor.numel() * tensor.element_size()));
  }
  if (!out) throw Error("cannot write '" + path + "'");
}

StateDict read_state_dict(const std::string& path) {
  const auto size = file_size_or_throw(path);
  switch (detect(path, size)) {
    case Format::TorchZip: return read_torch_zip(path);
    case Format::TorchLegacy: return read_torch_legacy(path);
    case Format::Safetensors: return read_safetensors(path);
    case Format::Unknown: break;
  }
  throw Error("weights file '" + path +
              "' is neither a torch.save file nor safetensors (or it is truncated to nothing)");
}

WeightsReport load_state_dict(torch::nn::Module& model, const StateDict& state,
                              const std::string& source, const WeightsOptions& options) {
  WeightsReport report;
  report.file = source;

  std::map<std::string, torch::Tensor> file;
  std::vector<std::string> file_order;
  for (const auto& [name, tensor] : state) {
    if (file.emplace(name, tensor).second) file_order.push_back(name);
  }
  // nn.DataParallel checkpoints prefix every key with "module.".
  const std::string wrapper = "module.";
  if (!file_order.empty() && std::all_of(file_order.begin(), file_order.end(), [&](const std::string& n) {
        return n.rfind(wrapper, 0) == 0;
      })) {
    std::map<std::string, torch::Tensor> stripped;
    for (auto& name : file_order) {
      stripped[name.substr(wrapper.size())] = file[name];
      name = name.substr(wrapper.size());
    }
    file = std::move(stripped);
    report.stripped_prefix = wrapper;
  }

  std::vector<std::pair<std::string, torch::Tensor>> targets;
  for (const auto& item : model.named_parameters()) targets.emplace_back(item.key(), item.value());
  for (const auto& item : model.named_buffers()) targets.emplace_back(item.key(), item.value());

  struct Mismatch {
    std::string name;
    std::vector<std::int64_t> file_shape, model_shape;
  };
  std::vector<Mismatch> mismatches;
  std::vector<std::pair<torch::Tensor, torch::Tensor>> copies;
  std::set<std::string> used;
  for (const auto& [name, target] : targets) {
    auto found = file.find(name);
    if (found == file.end()) {
      report.initialised.push_back(
          {name, name.size() >= 20 && name.compare(name.size() - 20, 20, "num_batches_tracked") == 0
                     ? "not in the file (older checkpoints omit it); left at its initial value"
                     : "not in the file; left as initialised"});
      continue;
    }
    used.insert(name);
    if (found->second.sizes() != target.sizes()) {
      mismatches.push_back({name, found->second.sizes().vec(), target.sizes().vec()});
      continue;
    }
    copies.emplace_back(target, found->second);
    report.loaded.push_back(name);
  }

  if (!mismatches.empty()) {
    auto describe = [&](const Mismatch& m) {
      return fmt::format("'{}' has shape {} in '{}' but {} in the model", m.name,
                         shape_string(m.file_shape), source, shape_string(m.model_shape));
    };
    bool head_only = true;
    std::string offending;
    if (!options.head_prefixes.empty()) {
      for (const auto& m : mismatches) {
        bool in_head = false;
        for (const auto& prefix : options.head_prefixes) in_head |= in_module(m.name, prefix);
        if (!in_head && head_only) {
          head_only = false;
          offending = describe(m);
        }
      }
    } else {
      // A class-count change: rank 1-2 tensors differing only in dimension 0,
      // all by the same pair of sizes.
      const auto first = std::make_pair(mismatches[0].file_shape.empty() ? -1 : mismatches[0].file_shape[0],
                                        mismatches[0].model_shape.empty() ? -1 : mismatches[0].model_shape[0]);
      for (const auto& m : mismatches) {
        bool classes = m.file_shape.size() == m.model_shape.size() && !m.file_shape.empty() &&
                       m.file_shape.size() <= 2 &&
                       std::equal(m.file_shape.begin() + 1, m.file_shape.end(), m.model_shape.begin() + 1) &&
                       std::make_pair(m.file_shape[0], m.model_shape[0]) == first;
        if (!classes && head_only) {
          head_only = false;
          offending = describe(m);
        }
      }
    }
    if (!head_only) {
      throw Error("cannot load weights: " + offending +
                  (mismatches.size() > 1 ? fmt::format(" ({} tensors differ in shape)", mismatches.size())
                                         : std::string()));
    }
    for (const auto& m : mismatches) {
      report.initialised.push_back(
          {m.name, fmt::format("classification head re-initialised: shape {} in the file, {} in the "
                               "model (different class count)",
                               shape_string(m.file_shape), shape_string(m.model_shape))});
    }
  }

  for (const auto& name : file_order) {
    if (!used.count(name)) report.unused.push_back(name);
  }
  if (report.loaded.empty()) {
    throw Error(fmt::format("cannot load weights: none of the {} tensors in '{}' match the model's "
                            "names (file has e.g. {}; model has e.g. {}); is it for another "
                            "architecture?",
                            file_order.size(), source, file_order.empty() ? "nothing" : file_order[0],
                            targets.empty() ? "nothing" : targets[0].first));
  }
  if (options.strict) {
    std::vector<std::string> missing;
    for (const auto& entry : report.initialised) {
      if (!file.count(entry.name)) missing.push_back(entry.name);
    }
    if (!missing.empty() || !report.unused.empty()) {
      throw Error(fmt::format("cannot load weights from '{}' strictly: missing from the file: {}; "
                              "not in the model: {}",
                              source, missing.empty() ? "(none)" : list_some(missing),
                              report.unused.empty() ? "(none)" : list_some(report.unused)));
    }
  }

  // Only now that everything checked out, so a failed load leaves the model
  // untouched.
  torch::NoGradGuard no_grad;
  for (auto& [target, value] : copies) target.copy_(value);
  return report;
}

WeightsReport load_weights(ClassifierModel& model, const std::string& path,
                           const WeightsOptions& options) {
  const auto size = file_size_or_throw(path);
  const auto format = detect(path, size);
  auto state = read_state_dict(path);
  auto report = load_state_dict(model, state, path, options);
  report.format = format == Format::TorchZip      ? "pytorch-zip"
                  : format == Format::TorchLegacy ? "pytorch-legacy"
                                                  : "safetensors";
  return report;
}

std::string WeightsReport::summary() const {
  std::vector<std::string> head, missing;
  for (const auto& entry : initialised) {
    (entry.reason.rfind("classification head", 0) == 0 ? head : missing).push_back(entry.name);
  }
  std::string text = fmt::format("Loaded {} of {} model tensors from '{}'{}", loaded.size(),
                                 loaded.size() + initialised.size(), file,
                                 format.empty() ? "" : " (" + format + ")");
  if (!stripped_prefix.empty()) text += fmt::format(", after removing the '{}' key prefix", stripped_prefix);
  text += ".";
  if (!head.empty()) {
    text += fmt::format(" The classification head ({}) was re-initialised because the file was "
                        "trained for a different number of classes.",
                        list_some(head));
  }
  if (!missing.empty()) {
    text += fmt::format(" {} tensor{} not in the file kept {} initial value{}: {}.", missing.size(),
                        missing.size() == 1 ? "" : "s", missing.size() == 1 ? "its" : "their",
                        missing.size() == 1 ? "" : "s", list_some(missing));
  }
  if (!unused.empty()) {
    text += fmt::format(" {} tensor{} in the file matched nothing in the model and {} ignored: {}.",
                        unused.size(), unused.size() == 1 ? "" : "s",
                        unused.size() == 1 ? "was" : "were", list_some(unused));
  }
  if (head.empty() && missing.empty() && unused.empty()) {
    text += " Every tensor matched by name and shape.";
  }
  return text;
}

}  // namespace cerebra
