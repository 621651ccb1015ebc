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
