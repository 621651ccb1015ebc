#include <map>

#include <gtest/gtest.h>

#include "cerebra/architecture.h"
#include "cerebra/plugin_loader.h"

using namespace cerebra;

namespace {
Registry& registry() {
  static Registry instance;
  static bool loaded = [] {
    PluginLoader loader(instance);
    auto record = loader.load(std::string(CEREBRA_PLUGIN_DIR) + "/libcerebra_architecture_cnn.so");
    EXPECT_EQ(record.status, PluginStatus::Loaded) << record.message;
    return true;
  }();
  (void)loaded;
  return instance;
}

std::int64_t count(const torch::nn::Module& module, const std::string& prefix) {
  std::int64_t total = 0;
  for (const auto& item : module.named_parameters()) {
    if (item.key().rfind(prefix + ".", 0) == 0) total += item.value().numel();
  }
  return total;
}
}  // namespace

TEST(Cnn, LayerParameterCountsMatchTheStudy) {
  for (std::int64_t classes : {2, 4}) {
    auto model = registry().create_as<Architecture>(kinds::architecture, "cnn", {})->build(classes);
    EXPECT_EQ(count(*model, "conv1"), 896);
    EXPECT_EQ(count(*model, "conv2"), 9248);
    EXPECT_EQ(count(*model, "conv3"), 18496);
    EXPECT_EQ(count(*model, "fc1"), 147520);  // flatten of 6x6x64 = 2304 inputs
    EXPECT_EQ(count(*model, "fc2"), (64 + 1) * classes);
  }
}

TEST(Cnn, ForwardGivesOneLogitPerClassAndFeaturesOf2304) {
  auto model = registry().create_as<Architecture>(kinds::architecture, "cnn", {})->build(4);
  model->eval();
  auto input = torch::rand({3, 3, 64, 64});
  EXPECT_EQ(model->features(input).sizes(), (std::vector<std::int64_t>{3, 2304}));
  EXPECT_EQ(model->forward(input).sizes(), (std::vector<std::int64_t>{3, 4}));
}

TEST(Cnn, DeclaresItsStructure) {
  auto architecture = registry().create_as<Architecture>(kinds::architecture, "cnn", {});
  auto info = architecture->info();
  EXPECT_EQ(info.input_size, 64);
  ASSERT_EQ(info.layer_groups.size(), 4u);
  EXPECT_EQ(info.layer_groups.back().name, "head");
  EXPECT_EQ(info.gradcam_layer, "conv3");
  // Every parameter belongs to exactly one layer group.
  auto model = architecture->build(2);
  for (const auto& item : model->named_parameters()) {
    int groups = 0;
    for (const auto& group : info.layer_groups) {
      for (const auto& prefix : group.module_prefixes) groups += item.key().rfind(prefix + ".", 0) == 0;
    }
    EXPECT_EQ(groups, 1) << item.key();
  }
}

TEST(Cnn, DropoutIsActiveOnlyInTraining) {
  Parameters parameters;
  parameters.set("dropout", 0.9);
  auto model = registry().create_as<Architecture>(kinds::architecture, "cnn", parameters)->build(2);
  auto input = torch::rand({2, 3, 64, 64});
  model->eval();
  EXPECT_TRUE(torch::equal(model->forward(input), model->forward(input)));
  model->train();
  EXPECT_FALSE(torch::equal(model->forward(input), model->forward(input)));
}

// The plugin pools before its ReLUs and runs channels-last for speed; this
// is the textbook order (conv, ReLU, pool) in NCHW from the same weights,
// which both the outputs and every gradient must match.
TEST(Cnn, FastLayerOrderComputesTheTextbookNetworkAndItsGradients) {
  torch::manual_seed(3);
  auto model = registry().create_as<Architecture>(kinds::architecture, "cnn", {})->build(3);
  model->eval();  // dropout off, so both sides see the same function
  std::map<std::string, torch::Tensor> p;
  for (const auto& item : model->named_parameters()) p[item.key()] = item.value();
  auto conv = [&](const torch::Tensor& x, const std::string& name) {
    return torch::conv2d(x, p[name + ".weight"].contiguous(), p[name + ".bias"]);
  };
  // Half the inputs negative, so that some pooling windows are all <= 0.
  auto input = torch::rand({4, 3, 64, 64}) * 2 - 1;

  auto fast = model->forward(input);
  fast.pow(2).sum().backward();
  std::map<std::string, torch::Tensor> fast_grads;
  for (const auto& item : model->named_parameters()) fast_grads[item.key()] = item.value().grad().clone();
  model->zero_grad();

  auto x = torch::max_pool2d(torch::relu(conv(input, "conv1")), 2);
  x = torch::max_pool2d(torch::relu(conv(x, "conv2")), 2);
  x = torch::max_pool2d(torch::relu(conv(x, "conv3")), 2);
  x = torch::relu(torch::linear(x.flatten(1), p["fc1.weight"], p["fc1.bias"]));
  auto textbook = torch::linear(x, p["fc2.weight"], p["fc2.bias"]);
  textbook.pow(2).sum().backward();

  EXPECT_TRUE(torch::allclose(fast, textbook, 1e-5, 1e-5)) << (fast - textbook).abs().max();
  for (const auto& item : model->named_parameters()) {
    const auto& grad = item.value().grad();
    ASSERT_TRUE(grad.defined()) << item.key();
    EXPECT_GT(grad.abs().sum().item<double>(), 0) << item.key();
    EXPECT_TRUE(torch::allclose(fast_grads[item.key()], grad, 1e-4, 1e-5))
        << item.key() << ": largest difference " << (fast_grads[item.key()] - grad).abs().max();
  }
  // And the layout the plugin chose does not leak into what it returns.
  EXPECT_TRUE(model->features(input).is_contiguous());
}
