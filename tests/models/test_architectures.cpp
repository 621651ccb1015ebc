// The architecture plugins, loaded as the host loads them: totals and names
// must match torchvision 0.14 so published weights load, and forward passes
// must give the documented shapes.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>

#include "cerebra/architecture.h"
#include "cerebra/plugin_loader.h"
#include "cerebra/weights.h"
#include "test_support.h"

using namespace cerebra;

namespace {

Registry& registry() {
  static Registry instance;
  static bool loaded = [] {
    static PluginLoader loader(instance);
    for (const char* name : {"vgg16", "resnet50", "inception_v3"}) {
      const auto& record = loader.load(std::string(CEREBRA_PLUGIN_DIR) +
                                       "/libcerebra_architecture_" + name + ".so");
      EXPECT_EQ(record.status, PluginStatus::Loaded) << record.message;
    }
    return true;
  }();
  (void)loaded;
  return instance;
}

std::unique_ptr<Architecture> architecture(const std::string& name,
                                           const Parameters& parameters = {}) {
  return registry().create_as<Architecture>(kinds::architecture, name, parameters);
}

// Building VGG16 allocates 138M floats; each 1000-class model is built once
// per test binary.
std::shared_ptr<ClassifierModel> imagenet_model(const std::string& name) {
  static std::map<std::string, std::shared_ptr<ClassifierModel>> cache;
  auto& model = cache[name];
  if (!model) model = architecture(name)->build(1000);
  return model;
}

std::int64_t trainable_parameters(const torch::nn::Module& model) {
  std::int64_t total = 0;
  for (const auto& parameter : model.parameters()) total += parameter.numel();
  return total;
}

std::map<std::string, torch::Tensor> named_tensors(const torch::nn::Module& model) {
  std::map<std::string, torch::Tensor> tensors;
  for (const auto& item : model.named_parameters()) tensors[item.key()] = item.value();
  for (const auto& item : model.named_buffers()) tensors[item.key()] = item.value();
  return tensors;
}

void expect_shape(const std::map<std::string, torch::Tensor>& tensors, const std::string& name,
                  std::vector<std::int64_t> shape) {
  auto found = tensors.find(name);
  ASSERT_NE(found, tensors.end()) << "no parameter or buffer named " << name;
  EXPECT_EQ(found->second.sizes().vec(), shape) << name;
}

bool in_module(const std::string& name, const std::string& prefix) {
  return name == prefix || name.rfind(prefix + ".", 0) == 0;
}

// Every parameter belongs to exactly one layer group (prefixes matched on
// whole path components), and the head group is last.
void expect_groups_partition(const ArchitectureInfo& info, const ClassifierModel& model,
                             const std::string& head_group) {
  ASSERT_FALSE(info.layer_groups.empty());
  EXPECT_EQ(info.layer_groups.back().name, head_group);
  for (const auto& item : model.named_parameters()) {
    int groups = 0;
    for (const auto& group : info.layer_groups) {
      bool member = false;
      for (const auto& prefix : group.module_prefixes) member |= in_module(item.key(), prefix);
      groups += member;
    }
    EXPECT_EQ(groups, 1) << item.key() << " is in " << groups << " layer groups";
  }
}

// The Grad-CAM layer names a real module of the built network.
void expect_module_exists(const ClassifierModel& model, const std::string& module_name) {
  bool found = false;
  for (const auto& item : model.named_modules()) found |= item.key() == module_name;
  EXPECT_TRUE(found) << "no module " << module_name;
}

torch::Tensor eval_logits(ClassifierModel& model, std::int64_t batch, std::int64_t size) {
  torch::NoGradGuard no_grad;
  model.eval();
  return model.forward(torch::randn({batch, 3, size, size}));
}

}  // namespace

TEST(Architecture, PluginsRegisterTheThreeArchitectures) {
  auto names = registry().names(kinds::architecture);
  for (const char* name : {"vgg16", "resnet50", "inception_v3"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
    EXPECT_TRUE(registry().find(kinds::architecture, name).schema.problems().empty()) << name;
  }
}

TEST(Architecture, Vgg16MatchesTorchvision) {
  auto model = imagenet_model("vgg16");
  EXPECT_EQ(trainable_parameters(*model), 138357544);
  auto tensors = named_tensors(*model);
  expect_shape(tensors, "features.0.weight", {64, 3, 3, 3});
  expect_shape(tensors, "features.28.bias", {512});
  expect_shape(tensors, "classifier.0.weight", {4096, 25088});
  expect_shape(tensors, "classifier.6.bias", {1000});
  // 13 convolutions and 3 linear layers, weight and bias each; no buffers.
  EXPECT_EQ(tensors.size(), 32u);
}

TEST(Architecture, Vgg16InfoAndSmallForward) {
  auto arch = architecture("vgg16");
  auto info = arch->info();
  EXPECT_EQ(info.input_size, 224);
  EXPECT_EQ(info.gradcam_layer, "features.29");
  ASSERT_EQ(info.layer_groups.size(), 6u);
  EXPECT_EQ(info.layer_groups[0].name, "block1");
  EXPECT_EQ(info.layer_groups[4].name, "block5");

  // The adaptive pool makes 32x32 (a 1x1 map after five pools) valid.
  auto model = arch->build(2);
  expect_groups_partition(info, *model, "classifier");
  expect_module_exists(*model, info.gradcam_layer);
  auto logits = eval_logits(*model, 2, 32);
  EXPECT_EQ(logits.sizes().vec(), (std::vector<std::int64_t>{2, 2}));
  EXPECT_TRUE(torch::isfinite(logits).all().item<bool>());
}

TEST(Architecture, ResNet50MatchesTorchvision) {
  auto model = imagenet_model("resnet50");
  EXPECT_EQ(trainable_parameters(*model), 25557032);
  auto tensors = named_tensors(*model);
  expect_shape(tensors, "conv1.weight", {64, 3, 7, 7});
  expect_shape(tensors, "bn1.running_mean", {64});
  expect_shape(tensors, "bn1.num_batches_tracked", {});
  expect_shape(tensors, "layer1.0.downsample.0.weight", {256, 64, 1, 1});
  expect_shape(tensors, "layer1.0.downsample.1.running_var", {256});
  expect_shape(tensors, "layer2.0.conv2.weight", {128, 128, 3, 3});  // stride on the 3x3 (v1.5)
  expect_shape(tensors, "layer3.5.bn3.weight", {1024});
  expect_shape(tensors, "layer4.2.conv3.weight", {2048, 512, 1, 1});
  expect_shape(tensors, "fc.weight", {1000, 2048});
  EXPECT_EQ(tensors.count("layer1.1.downsample.0.weight"), 0u);
  // torchvision's resnet50 state dict has 320 entries (161 parameters, 159
  // batch-norm buffers incl. num_batches_tracked).
  EXPECT_EQ(tensors.size(), 320u);
}

TEST(Architecture, ResNet50InfoAndSmallForward) {
  auto arch = architecture("resnet50");
  auto info = arch->info();
  EXPECT_EQ(info.input_size, 224);
  EXPECT_EQ(info.gradcam_layer, "layer4");
  ASSERT_EQ(info.layer_groups.size(), 6u);
  EXPECT_EQ(info.layer_groups.front().name, "stem");

  auto model = arch->build(2);
  expect_groups_partition(info, *model, "head");
  expect_module_exists(*model, info.gradcam_layer);
  auto features = [&] {
    torch::NoGradGuard no_grad;
    model->eval();
    return model->features(torch::randn({2, 3, 64, 64}));
  }();
  EXPECT_EQ(features.sizes().vec(), (std::vector<std::int64_t>{2, 2048}));
  auto logits = eval_logits(*model, 2, 64);
  EXPECT_EQ(logits.sizes().vec(), (std::vector<std::int64_t>{2, 2}));
  EXPECT_FALSE(model->forward_all(torch::randn({1, 3, 64, 64})).aux_logits.defined());
}

TEST(Architecture, ResNet50ZeroInitResidual) {
  Parameters parameters;
  parameters.set("zero_init_residual", true);
  auto model = architecture("resnet50", parameters)->build(2);
  auto tensors = named_tensors(*model);
  EXPECT_EQ(tensors.at("layer2.3.bn3.weight").abs().sum().item<double>(), 0.0);
  EXPECT_EQ(tensors.at("layer2.3.bn2.weight").min().item<double>(), 1.0);
}

TEST(Architecture, InceptionV3MatchesTorchvision) {
  auto model = imagenet_model("inception_v3");
  EXPECT_EQ(trainable_parameters(*model), 27161264);
  auto tensors = named_tensors(*model);
  expect_shape(tensors, "Conv2d_1a_3x3.conv.weight", {32, 3, 3, 3});
  expect_shape(tensors, "Conv2d_1a_3x3.bn.running_var", {32});
  expect_shape(tensors, "Mixed_5b.branch1x1.conv.weight", {64, 192, 1, 1});
  expect_shape(tensors, "Mixed_6b.branch7x7_2.conv.weight", {128, 128, 1, 7});
  expect_shape(tensors, "Mixed_7c.branch3x3dbl_3b.conv.weight", {384, 384, 3, 1});
  expect_shape(tensors, "AuxLogits.conv1.conv.weight", {768, 128, 5, 5});
  expect_shape(tensors, "AuxLogits.fc.weight", {1000, 768});
  expect_shape(tensors, "fc.weight", {1000, 2048});
  EXPECT_EQ(tensors.count("Conv2d_1a_3x3.conv.bias"), 0u);  // BasicConv2d has no conv bias

  // torchvision's BasicConv2d uses TensorFlow's batch-norm epsilon.
  bool checked = false;
  for (const auto& item : model->named_modules()) {
    if (auto* bn = item.value()->as<torch::nn::BatchNorm2d>()) {
      EXPECT_DOUBLE_EQ(bn->options.eps(), 0.001) << item.key();
      checked = true;
    }
  }
  EXPECT_TRUE(checked);
}

TEST(Architecture, InceptionV3WithoutAuxLogits) {
  Parameters parameters;
  parameters.set("aux_logits", false);
  auto model = architecture("inception_v3", parameters)->build(1000);
  // The auxiliary classifier alone: 128*768 + 3*128 conv0/bn, 768*128*25 +
  // 2*768 conv1/bn, 768*1000 + 1000 fc.
  const std::int64_t aux = 128 * 768 + 2 * 128 + 768 * 128 * 25 + 2 * 768 + 768 * 1000 + 1000;
  EXPECT_EQ(trainable_parameters(*model), 27161264 - aux);
}

TEST(Architecture, InceptionV3InfoAndSmallForward) {
  auto arch = architecture("inception_v3");
  auto info = arch->info();
  EXPECT_EQ(info.input_size, 299);
  EXPECT_EQ(info.gradcam_layer, "Mixed_7c");
  ASSERT_EQ(info.layer_groups.size(), 5u);

  auto model = arch->build(2);
  expect_groups_partition(info, *model, "head");
  expect_module_exists(*model, info.gradcam_layer);
  auto logits = eval_logits(*model, 1, 80);
  EXPECT_EQ(logits.sizes().vec(), (std::vector<std::int64_t>{1, 2}));
  torch::NoGradGuard no_grad;
  EXPECT_FALSE(model->forward_all(torch::randn({1, 3, 80, 80})).aux_logits.defined());
}

TEST(Architecture, InceptionV3TrainingReturnsAuxLogits) {
  auto model = architecture("inception_v3")->build(3);
  model->train();
  torch::NoGradGuard no_grad;
  // The auxiliary head needs 299x299 (17x17 at Mixed_6e), and batch norm in
  // training mode needs more than one value per channel at its 1x1 output.
  auto output = model->forward_all(torch::randn({2, 3, 299, 299}));
  EXPECT_EQ(output.logits.sizes().vec(), (std::vector<std::int64_t>{2, 3}));
  ASSERT_TRUE(output.aux_logits.defined());
  EXPECT_EQ(output.aux_logits.sizes().vec(), (std::vector<std::int64_t>{2, 3}));
}

TEST(Architecture, InceptionV3AuxHeadRejectsSmallInputsClearly) {
  auto model = architecture("inception_v3")->build(3);
  model->train();
  torch::NoGradGuard no_grad;
  try {
    model->forward_all(torch::randn({2, 3, 224, 224}));
    FAIL() << "expected an error";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("aux_logits = false"), std::string::npos)
        << error.what();
  }
}

namespace {

// A model whose input transform is set by the parameter, with the weights
// every such model gets from the same seed.
std::shared_ptr<ClassifierModel> inception_with_transform(const std::string& setting) {
  Parameters parameters;
  parameters.set("transform_input", std::string(setting));
  parameters.set("aux_logits", false);
  torch::manual_seed(17);
  auto model = architecture("inception_v3", parameters)->build(3);
  model->eval();
  return model;
}

torch::Tensor logits_of(ClassifierModel& model, const torch::Tensor& input) {
  torch::NoGradGuard no_grad;
  return model.forward(input);
}

// torchvision's _transform_input, written out here so the test does not
// share the plugin's code.
torch::Tensor rescaled_as_torchvision(const torch::Tensor& x) {
  return torch::cat({torch::unsqueeze(x.select(1, 0), 1) * (0.229 / 0.5) + (0.485 - 0.5) / 0.5,
                     torch::unsqueeze(x.select(1, 1), 1) * (0.224 / 0.5) + (0.456 - 0.5) / 0.5,
                     torch::unsqueeze(x.select(1, 2), 1) * (0.225 / 0.5) + (0.406 - 0.5) / 0.5},
                    1);
}

}  // namespace

TEST(Architecture, InceptionV3TransformInputIsTorchvisionsRescaling) {
  auto on = inception_with_transform("on");
  auto off = inception_with_transform("off");
  const auto x = torch::randn({2, 3, 80, 80});
  const auto expected = logits_of(*off, rescaled_as_torchvision(x));
  EXPECT_TRUE(torch::equal(logits_of(*on, x), expected));
  EXPECT_FALSE(torch::equal(logits_of(*off, x), expected));  // the transform does something
}

TEST(Architecture, InceptionV3TransformInputAutoFollowsPublishedWeights) {
  auto on = inception_with_transform("on");
  auto off = inception_with_transform("off");
  const auto x = torch::randn({1, 3, 80, 80});

  // Untouched (trained from scratch), "auto" is off.
  auto automatic = inception_with_transform("auto");
  EXPECT_TRUE(torch::equal(logits_of(*automatic, x), logits_of(*off, x)));

  // A published file (torchvision's names, no transform_input) turns it on.
  cerebra::testing::TempDir dir;
  StateDict published;
  for (const auto& item : off->named_parameters()) published.emplace_back(item.key(), item.value());
  for (const auto& item : off->named_buffers()) {
    if (item.key() != "transform_input") published.emplace_back(item.key(), item.value());
  }
  write_safetensors(dir.file("published.safetensors"), published);
  WeightsOptions strict;
  strict.strict = true;  // transform_input is implied by the file, not missing from it
  auto report = load_weights(*automatic, dir.file("published.safetensors"), strict);
  EXPECT_EQ(report.implied, std::vector<std::string>{"transform_input"});
  EXPECT_NE(report.summary().find("transform_input"), std::string::npos) << report.summary();
  EXPECT_TRUE(torch::equal(logits_of(*automatic, x), logits_of(*on, x)));

  // A checkpoint carries it: the evaluation of such a run transforms too.
  torch::serialize::OutputArchive saved;
  automatic->save(saved);
  std::ostringstream bytes;
  saved.save_to(bytes);
  auto evaluated = inception_with_transform("auto");
  torch::serialize::InputArchive archive;
  std::istringstream in(bytes.str());
  archive.load_from(in);
  evaluated->load(archive);
  EXPECT_TRUE(torch::equal(logits_of(*evaluated, x), logits_of(*on, x)));

  // "off" wins over published weights.
  auto forced_off = inception_with_transform("off");
  load_weights(*forced_off, dir.file("published.safetensors"));
  EXPECT_TRUE(torch::equal(logits_of(*forced_off, x), logits_of(*off, x)));
}

// The head each architecture declares (its last layer group) is what may
// differ when ImageNet weights meet another class count: loading a 1000-class
// state into a 2-class model re-initialises exactly the classifiers.
TEST(Architecture, DeclaredHeadsCoverEveryClassCountDependentTensor) {
  const std::map<std::string, std::set<std::string>> heads{
      {"vgg16", {"classifier.6.weight", "classifier.6.bias"}},
      {"resnet50", {"fc.weight", "fc.bias"}},
      {"inception_v3", {"fc.weight", "fc.bias", "AuxLogits.fc.weight", "AuxLogits.fc.bias"}}};
  for (const auto& [name, expected] : heads) {
    SCOPED_TRACE(name);
    auto arch = architecture(name);
    auto imagenet = imagenet_model(name);
    StateDict state;
    for (const auto& item : imagenet->named_parameters()) state.emplace_back(item.key(), item.value());
    for (const auto& item : imagenet->named_buffers()) state.emplace_back(item.key(), item.value());
    auto model = arch->build(2);
    auto report = load_state_dict(*model, state, name + " (1000 classes)", weights_options_for(arch->info()));
    std::set<std::string> initialised;
    for (const auto& entry : report.initialised) initialised.insert(entry.name);
    EXPECT_EQ(initialised, expected);
  }
}

// Opt-in, since it needs Python to make ~850 MB of references (see
// fixtures/make_torchvision_reference.py): torchvision's own weights, loaded
// by name through load_weights, must give torchvision's logits. Inception v3
// is compared as torchvision builds it with published weights
// (transform_input on, which "auto" must follow for a published file) and
// with transform_input off.
TEST(Architecture, OutputsMatchTorchvisionWithItsWeights) {
  const char* folder = std::getenv("CEREBRA_TORCHVISION_REFERENCE");
  if (!folder) GTEST_SKIP() << "set CEREBRA_TORCHVISION_REFERENCE (see make_torchvision_reference.py)";
  auto read_floats = [](const std::string& path, std::vector<std::int64_t> shape) {
    auto tensor = torch::empty(shape);
    std::ifstream in(path, std::ios::binary);
    in.read(static_cast<char*>(tensor.data_ptr()), tensor.numel() * 4);
    EXPECT_EQ(in.gcount(), tensor.numel() * 4) << path;
    return tensor;
  };
  struct Reference {
    std::string file, architecture;
    std::int64_t size;
    std::string transform_input;  // inception_v3 only
  };
  for (const auto& reference : std::vector<Reference>{{"vgg16", "vgg16", 64, ""},
                                                      {"resnet50", "resnet50", 96, ""},
                                                      {"inception_v3", "inception_v3", 299, "auto"},
                                                      {"inception_v3_no_transform", "inception_v3", 299, "off"}}) {
    SCOPED_TRACE(reference.file);
    const std::string base = std::string(folder) + "/" + reference.file;
    Parameters parameters;
    if (!reference.transform_input.empty()) parameters.set("transform_input", reference.transform_input);
    auto model = architecture(reference.architecture, parameters)->build(1000);
    WeightsOptions strict;
    strict.strict = true;  // every name on both sides must match
    auto report = load_weights(*model, base + ".pth", strict);
    EXPECT_TRUE(report.initialised.empty());
    torch::NoGradGuard no_grad;
    model->eval();
    auto logits = model->forward(read_floats(base + ".input.bin", {2, 3, reference.size, reference.size}));
    auto expected = read_floats(base + ".output.bin", {2, 1000});
    EXPECT_TRUE(torch::allclose(logits, expected, 1e-4, 1e-5))
        << "max difference " << (logits - expected).abs().max().item<double>();
  }
}

// The declared minimum input sizes are the real ones: one pixel less fails.
TEST(Architecture, DeclaredMinimumInputSizesAreTight) {
  auto forward_fails = [](ClassifierModel& model, std::int64_t side) {
    try {
      eval_logits(model, 1, side);
      return false;
    } catch (const std::exception&) {
      return true;
    }
  };
  auto vgg = architecture("vgg16");
  EXPECT_EQ(vgg->info().min_input_size, 32);
  auto vgg_model = vgg->build(2);
  EXPECT_FALSE(forward_fails(*vgg_model, 32));
  EXPECT_TRUE(forward_fails(*vgg_model, 31));

  Parameters no_aux;
  no_aux.set("aux_logits", false);
  auto inception = architecture("inception_v3", no_aux);
  EXPECT_EQ(inception->info().min_input_size, 75);
  EXPECT_EQ(architecture("inception_v3")->info().min_input_size, 299);  // the auxiliary head's need
  auto inception_model = inception->build(2);
  EXPECT_FALSE(forward_fails(*inception_model, 75));
  EXPECT_TRUE(forward_fails(*inception_model, 74));
  // InceptionV3TrainingReturnsAuxLogits and InceptionV3AuxHeadRejectsSmallInputsClearly
  // cover 299 with the auxiliary head.

  auto resnet = architecture("resnet50");
  EXPECT_EQ(resnet->info().min_input_size, 1);
  EXPECT_FALSE(forward_fails(*resnet->build(2), 1));
}
