// Loading published weights: real torch.save files (made by
// fixtures/make_fixtures.py with PyTorch, committed) and safetensors files
// written here byte by byte.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <string>

#include "cerebra/weights.h"
#include "test_support.h"

using namespace cerebra;
using cerebra::testing::error_message_of;
using cerebra::testing::TempDir;

namespace {

const std::string kFixtures = std::string(CEREBRA_SOURCE_DIR) + "/tests/models/fixtures/";

// The fixtures' model (see make_fixtures.py), with torchvision-style names.
class TinyModel : public ClassifierModel {
 public:
  explicit TinyModel(std::int64_t classes, std::int64_t in_channels = 3) {
    features_ = register_module(
        "features", torch::nn::Sequential(
                        torch::nn::Conv2d(torch::nn::Conv2dOptions(in_channels, 4, 3).padding(1)),
                        torch::nn::BatchNorm2d(4), torch::nn::ReLU()));
    fc_ = register_module("fc", torch::nn::Linear(4, classes));
  }
  torch::Tensor features(const torch::Tensor& input) override {
    return torch::adaptive_avg_pool2d(features_->forward(input), {1, 1}).flatten(1);
  }
  torch::Tensor head(const torch::Tensor& features) override { return fc_->forward(features); }

 private:
  torch::nn::Sequential features_{nullptr};
  torch::nn::Linear fc_{nullptr};
};

// PyTorch's state-dict order for that model; the fixtures' values depend on it.
const std::vector<std::string> kOrder = {
    "features.0.weight",  "features.0.bias",         "features.1.weight",
    "features.1.bias",    "features.1.running_mean", "features.1.running_var",
    "features.1.num_batches_tracked", "fc.weight",   "fc.bias"};

// The value make_fixtures.py gives entry `name` of shape `shape`.
torch::Tensor expected(const std::string& name, c10::IntArrayRef shape) {
  if (name == "features.1.num_batches_tracked") return torch::full(shape, 7, torch::kLong);
  const auto k = std::find(kOrder.begin(), kOrder.end(), name) - kOrder.begin();
  std::int64_t numel = 1;
  for (auto d : shape) numel *= d;
  return ((torch::arange(numel, torch::kFloat) + 1) * 0.25 + static_cast<double>(k)).reshape(shape);
}

std::map<std::string, torch::Tensor> tensors_of(const torch::nn::Module& model) {
  std::map<std::string, torch::Tensor> tensors;
  for (const auto& item : model.named_parameters()) tensors[item.key()] = item.value().detach().clone();
  for (const auto& item : model.named_buffers()) tensors[item.key()] = item.value().clone();
  return tensors;
}

void expect_formula_values(const torch::nn::Module& model, const std::set<std::string>& except = {}) {
  for (const auto& [name, tensor] : tensors_of(model)) {
    if (except.count(name)) continue;
    EXPECT_TRUE(torch::equal(tensor, expected(name, tensor.sizes()))) << name << "\n" << tensor;
  }
}

void copy_prefix(const std::string& from, const std::string& to, std::uintmax_t bytes) {
  std::ifstream in(from, std::ios::binary);
  std::string data(bytes, '\0');
  in.read(data.data(), static_cast<std::streamsize>(bytes));
  ASSERT_EQ(static_cast<std::uintmax_t>(in.gcount()), bytes);
  std::ofstream(to, std::ios::binary).write(data.data(), static_cast<std::streamsize>(bytes));
}

// A safetensors file assembled by hand (not with write_safetensors), so the
// reader is checked against the format rather than against our own writer.
struct RawTensor {
  std::string name, dtype;
  std::vector<std::int64_t> shape;
  torch::Tensor values;  // already in the file's dtype
};
void write_raw_safetensors(const std::string& path, const std::vector<RawTensor>& tensors) {
  std::string header = "{\"__metadata__\":{\"format\":\"pt\"}";
  std::string data;
  for (const auto& t : tensors) {
    auto bytes = t.values.contiguous();
    const auto size = static_cast<std::size_t>(bytes.numel() * bytes.element_size());
    std::string shape;
    for (auto d : t.shape) shape += (shape.empty() ? "" : ",") + std::to_string(d);
    header += ",\"" + t.name + "\":{\"dtype\":\"" + t.dtype + "\",\"shape\":[" + shape +
              "],\"data_offsets\":[" + std::to_string(data.size()) + "," +
              std::to_string(data.size() + size) + "]}";
    data.append(static_cast<const char*>(bytes.data_ptr()), size);
  }
  header += "}";
  std::ofstream out(path, std::ios::binary);
  const std::uint64_t length = header.size();
  out.write(reinterpret_cast<const char*>(&length), 8);
  out << header << data;
}

// The fixture values in safetensors, with the convolution in F16 and the
// batch-norm scale in BF16 as half-precision exports have them.
std::vector<RawTensor> formula_raw_tensors(std::int64_t classes = 3) {
  TinyModel shapes(classes);
  auto tensors = tensors_of(shapes);
  std::vector<RawTensor> raw;
  for (const auto& name : kOrder) {
    auto shape = tensors.at(name).sizes().vec();
    auto values = expected(name, shape);
    std::string dtype = name == "features.1.num_batches_tracked" ? "I64" : "F32";
    if (name == "features.0.weight") {
      values = values.to(torch::kHalf);
      dtype = "F16";
    } else if (name == "features.1.weight") {
      values = values.to(torch::kBFloat16);
      dtype = "BF16";
    }
    raw.push_back({name, dtype, shape, values});
  }
  return raw;
}

}  // namespace

TEST(Weights, ReadsZipStateDictInFileOrderWithViewsAndStrides) {
  auto state = read_state_dict(kFixtures + "tiny_zip.pth");
  ASSERT_EQ(state.size(), kOrder.size());
  for (std::size_t i = 0; i < state.size(); ++i) {
    EXPECT_EQ(state[i].first, kOrder[i]);
    EXPECT_TRUE(torch::equal(state[i].second, expected(state[i].first, state[i].second.sizes())))
        << state[i].first;
  }
  // fc.weight was saved transposed and fc.bias as a view at offset 2.
  EXPECT_FALSE(state[7].second.is_contiguous());
  EXPECT_EQ(state[8].second.storage_offset(), 2);
  EXPECT_EQ(state[6].second.scalar_type(), torch::kLong);
  EXPECT_EQ(state[6].second.dim(), 0);
}

TEST(Weights, LoadsZipPthIntoMatchingModel) {
  TinyModel model(3);
  auto report = load_weights(model, kFixtures + "tiny_zip.pth");
  EXPECT_EQ(report.format, "pytorch-zip");
  EXPECT_EQ(report.loaded.size(), 9u);
  EXPECT_TRUE(report.initialised.empty());
  EXPECT_TRUE(report.unused.empty());
  expect_formula_values(model);
  EXPECT_NE(report.summary().find("Loaded 9 of 9"), std::string::npos) << report.summary();
}

TEST(Weights, LoadsLegacyPth) {
  TinyModel model(3);
  auto report = load_weights(model, kFixtures + "tiny_legacy.pth");
  EXPECT_EQ(report.format, "pytorch-legacy");
  EXPECT_EQ(report.loaded.size(), 9u);
  expect_formula_values(model);
}

TEST(Weights, UnwrapsCheckpointAndDataParallelPrefix) {
  TinyModel model(3);
  auto report = load_weights(model, kFixtures + "tiny_checkpoint.pth");
  EXPECT_EQ(report.stripped_prefix, "module.");
  EXPECT_EQ(report.loaded.size(), 9u);
  expect_formula_values(model);
}

TEST(Weights, RefusesAPickledModule) {
  TinyModel model(3);
  auto message = error_message_of([&] { load_weights(model, kFixtures + "tiny_module.pth"); });
  EXPECT_NE(message.find("not a state dict"), std::string::npos) << message;
  EXPECT_NE(message.find("tiny_module.pth"), std::string::npos) << message;
}

// The tiny model's head, as an architecture would declare it.
WeightsOptions fc_is_the_head() {
  WeightsOptions options;
  options.head_prefixes = {"fc"};
  return options;
}

TEST(Weights, HeadIsReinitialisedWhenClassCountDiffers) {
  TinyModel model(5);
  const auto before = tensors_of(model);
  auto report = load_weights(model, kFixtures + "tiny_zip.pth", fc_is_the_head());
  EXPECT_EQ(report.loaded.size(), 7u);
  ASSERT_EQ(report.initialised.size(), 2u);
  for (const auto& entry : report.initialised) {
    EXPECT_TRUE(entry.name == "fc.weight" || entry.name == "fc.bias") << entry.name;
    EXPECT_NE(entry.reason.find("class count"), std::string::npos) << entry.reason;
  }
  const auto after = tensors_of(model);
  EXPECT_TRUE(torch::equal(after.at("fc.weight"), before.at("fc.weight")));
  EXPECT_TRUE(torch::equal(after.at("fc.bias"), before.at("fc.bias")));
  expect_formula_values(model, {"fc.weight", "fc.bias"});
  EXPECT_NE(report.summary().find("re-initialised"), std::string::npos) << report.summary();
}

TEST(Weights, ShapeMismatchOutsideHeadNamesTensorAndShapesAndLeavesModelAlone) {
  TinyModel model(3, /*in_channels=*/1);
  const auto before = tensors_of(model);
  auto message = error_message_of([&] { load_weights(model, kFixtures + "tiny_zip.pth"); });
  EXPECT_NE(message.find("features.0.weight"), std::string::npos) << message;
  EXPECT_NE(message.find("[4, 3, 3, 3]"), std::string::npos) << message;
  EXPECT_NE(message.find("[4, 1, 3, 3]"), std::string::npos) << message;
  for (const auto& [name, tensor] : tensors_of(model)) {
    EXPECT_TRUE(torch::equal(tensor, before.at(name))) << name << " changed by a failed load";
  }
}

TEST(Weights, ExplicitHeadPrefixesBoundWhatMayDiffer) {
  WeightsOptions options;
  options.head_prefixes = {"features"};  // deliberately not the head
  TinyModel model(5);
  auto message = error_message_of([&] { load_weights(model, kFixtures + "tiny_zip.pth", options); });
  EXPECT_NE(message.find("fc.weight"), std::string::npos) << message;

  options.head_prefixes = {"fc"};
  TinyModel other(5);
  EXPECT_EQ(load_weights(other, kFixtures + "tiny_zip.pth", options).initialised.size(), 2u);
}

TEST(Weights, MismatchOutsideTheDeclaredHeadIsAnErrorNamingTensorAndFile) {
  TinyModel model(5, /*in_channels=*/1);  // the head and the first convolution differ
  const auto before = tensors_of(model);
  const auto file = kFixtures + "tiny_zip.pth";
  auto message = error_message_of([&] { load_weights(model, file, fc_is_the_head()); });
  EXPECT_NE(message.find("'features.0.weight'"), std::string::npos) << message;
  EXPECT_NE(message.find(file), std::string::npos) << message;
  EXPECT_NE(message.find("outside the architecture's head (fc)"), std::string::npos) << message;
  for (const auto& [name, tensor] : tensors_of(model)) {
    EXPECT_TRUE(torch::equal(tensor, before.at(name))) << name << " changed by a failed load";
  }
}

TEST(Weights, MismatchInsideTheDeclaredHeadIsSkippedAndReported) {
  TinyModel model(5);
  const auto before = tensors_of(model);
  auto report = load_weights(model, kFixtures + "tiny_zip.pth", fc_is_the_head());
  std::map<std::string, std::string> reasons;
  for (const auto& entry : report.initialised) reasons[entry.name] = entry.reason;
  ASSERT_EQ(reasons.size(), 2u);
  EXPECT_NE(reasons["fc.weight"].find("shape [3, 4] in the file, [5, 4] in the model"), std::string::npos)
      << reasons["fc.weight"];
  EXPECT_TRUE(torch::equal(tensors_of(model).at("fc.bias"), before.at("fc.bias")));
  EXPECT_NE(report.summary().find("fc.weight, fc.bias"), std::string::npos) << report.summary();
}

// Nothing is guessed from shapes: a class-count change is only skipped in a
// head that was declared.
TEST(Weights, WithoutADeclaredHeadEveryShapeMustMatch) {
  TinyModel model(5);
  auto message = error_message_of([&] { load_weights(model, kFixtures + "tiny_zip.pth"); });
  EXPECT_NE(message.find("'fc.weight'"), std::string::npos) << message;
  EXPECT_NE(message.find("no head was declared"), std::string::npos) << message;
}

TEST(Weights, OptionsForAnArchitectureMakeItsLastLayerGroupTheHead) {
  ArchitectureInfo info;
  info.layer_groups = {{"stem", {"conv1", "bn1"}}, {"head", {"fc", "AuxLogits.fc"}}};
  EXPECT_EQ(weights_options_for(info).head_prefixes, (std::vector<std::string>{"fc", "AuxLogits.fc"}));
  EXPECT_TRUE(weights_options_for(ArchitectureInfo{}).head_prefixes.empty());
}

namespace {

// The tiny model with a setting that published files lack and imply.
class TinyModelWithSetting : public TinyModel {
 public:
  TinyModelWithSetting() : TinyModel(3) { setting_ = register_buffer("setting", torch::tensor(false)); }
  StateDict published_weights_settings() const override { return {{"setting", torch::tensor(true)}}; }
  torch::Tensor setting_;
};

}  // namespace

TEST(Weights, SettingsImpliedByPublishedFilesLoadButDoNotCountAsAMatch) {
  TinyModelWithSetting model;
  WeightsOptions strict;
  strict.strict = true;
  auto report = load_weights(model, kFixtures + "tiny_zip.pth", strict);
  EXPECT_EQ(report.implied, std::vector<std::string>{"setting"});
  EXPECT_EQ(report.loaded.size(), 9u);
  EXPECT_TRUE(model.setting_.item<bool>());
  EXPECT_NE(report.summary().find("set as published weights imply: setting"), std::string::npos)
      << report.summary();

  TempDir dir;
  const auto other = dir.file("other.safetensors");
  write_raw_safetensors(other, {{"encoder.weight", "F32", {2}, torch::ones({2})}});
  TinyModelWithSetting fresh;
  auto message = error_message_of([&] { load_weights(fresh, other); });
  EXPECT_NE(message.find("another architecture"), std::string::npos) << message;
  EXPECT_FALSE(fresh.setting_.item<bool>());
}

TEST(Weights, MissingFileIsAClearError) {
  TinyModel model(3);
  auto message = error_message_of([&] { load_weights(model, "/nonexistent/resnet50.pth"); });
  EXPECT_NE(message.find("/nonexistent/resnet50.pth"), std::string::npos) << message;
  EXPECT_NE(message.find("does not exist"), std::string::npos) << message;
}

TEST(Weights, TruncatedFilesAreClearErrors) {
  TempDir dir;
  for (const std::string name : {"tiny_zip.pth", "tiny_legacy.pth"}) {
    const auto size = std::filesystem::file_size(kFixtures + name);
    for (auto keep : {size - 1, size / 2, std::uintmax_t{40}}) {
      SCOPED_TRACE(name + " cut to " + std::to_string(keep) + " bytes");
      const auto cut = dir.file("cut_" + name);
      copy_prefix(kFixtures + name, cut, keep);
      TinyModel model(3);
      auto message = error_message_of([&] { load_weights(model, cut); });
      EXPECT_NE(message.find(cut), std::string::npos) << message;
    }
  }
  // The legacy layout ends with raw storages: a cut there must say truncated.
  const auto legacy = dir.file("cut_legacy_tail.pth");
  copy_prefix(kFixtures + "tiny_legacy.pth", legacy,
              std::filesystem::file_size(kFixtures + "tiny_legacy.pth") - 4);
  TinyModel model(3);
  EXPECT_NE(error_message_of([&] { load_weights(model, legacy); }).find("truncated"), std::string::npos);
}

TEST(Weights, NotAWeightsFile) {
  TempDir dir;
  cerebra::testing::write_text(dir.file("notes.pth"), "these are not weights\n");
  TinyModel model(3);
  auto message = error_message_of([&] { load_weights(model, dir.file("notes.pth")); });
  EXPECT_NE(message.find("notes.pth"), std::string::npos) << message;
}

TEST(Weights, LoadsHandWrittenSafetensorsWithHalfPrecision) {
  TempDir dir;
  const auto path = dir.file("tiny.safetensors");
  write_raw_safetensors(path, formula_raw_tensors());
  TinyModel model(3);
  auto report = load_weights(model, path);
  EXPECT_EQ(report.format, "safetensors");
  EXPECT_EQ(report.loaded.size(), 9u);
  expect_formula_values(model);
  // The model keeps its own dtype.
  for (const auto& parameter : model.parameters()) EXPECT_EQ(parameter.scalar_type(), torch::kFloat);
}

TEST(Weights, SafetensorsHeadReinitialisedAndTruncation) {
  TempDir dir;
  const auto path = dir.file("tiny.safetensors");
  write_raw_safetensors(path, formula_raw_tensors(/*classes=*/1000));
  TinyModel model(2);
  auto report = load_weights(model, path, fc_is_the_head());
  EXPECT_EQ(report.initialised.size(), 2u);
  expect_formula_values(model, {"fc.weight", "fc.bias"});

  const auto cut = dir.file("cut.safetensors");
  copy_prefix(path, cut, std::filesystem::file_size(path) - 8);
  auto message = error_message_of([&] { load_weights(model, cut); });
  EXPECT_NE(message.find("truncated"), std::string::npos) << message;
  EXPECT_NE(message.find("fc.bias"), std::string::npos) << message;  // the last tensor
  EXPECT_NE(message.find(cut), std::string::npos) << message;

  copy_prefix(path, cut, 100);  // inside the JSON header
  message = error_message_of([&] { load_weights(model, cut); });
  EXPECT_NE(message.find(cut), std::string::npos) << message;
}

TEST(Weights, SafetensorsRoundTrip) {
  TempDir dir;
  TinyModel source(3);
  StateDict state;
  for (const auto& item : source.named_parameters()) state.emplace_back(item.key(), item.value());
  for (const auto& item : source.named_buffers()) state.emplace_back(item.key(), item.value());
  write_safetensors(dir.file("model.safetensors"), state);
  auto read = read_safetensors(dir.file("model.safetensors"));
  ASSERT_EQ(read.size(), state.size());
  for (std::size_t i = 0; i < read.size(); ++i) {
    EXPECT_EQ(read[i].first, state[i].first);
    EXPECT_TRUE(torch::equal(read[i].second, state[i].second)) << read[i].first;
  }
}

TEST(Weights, MissingAndUnusedTensorsAreReportedAndStrictRefusesThem) {
  TempDir dir;
  auto raw = formula_raw_tensors();
  raw.erase(raw.begin() + 6);  // num_batches_tracked, as older checkpoints lack it
  raw.push_back({"AuxLogits.fc.bias", "F32", {3}, torch::zeros({3})});
  const auto path = dir.file("partial.safetensors");
  write_raw_safetensors(path, raw);

  TinyModel model(3);
  auto report = load_weights(model, path);
  EXPECT_EQ(report.loaded.size(), 8u);
  ASSERT_EQ(report.initialised.size(), 1u);
  EXPECT_EQ(report.initialised[0].name, "features.1.num_batches_tracked");
  EXPECT_EQ(report.unused, std::vector<std::string>{"AuxLogits.fc.bias"});
  const auto summary = report.summary();
  EXPECT_NE(summary.find("num_batches_tracked"), std::string::npos) << summary;
  EXPECT_NE(summary.find("AuxLogits.fc.bias"), std::string::npos) << summary;

  WeightsOptions strict;
  strict.strict = true;
  TinyModel other(3);
  auto message = error_message_of([&] { load_weights(other, path, strict); });
  EXPECT_NE(message.find("num_batches_tracked"), std::string::npos) << message;
}

TEST(Weights, NoMatchingNamesIsAnError) {
  TempDir dir;
  const auto path = dir.file("other.safetensors");
  write_raw_safetensors(path, {{"encoder.weight", "F32", {2}, torch::ones({2})}});
  TinyModel model(3);
  auto message = error_message_of([&] { load_weights(model, path); });
  EXPECT_NE(message.find("another architecture"), std::string::npos) << message;
}
