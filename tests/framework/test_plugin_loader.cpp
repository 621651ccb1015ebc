#include <gtest/gtest.h>

#include <filesystem>

#include "cerebra/plugin_abi.h"
#include "cerebra/plugin_loader.h"
#include "cerebra/transform.h"
#include "test_support.h"

namespace fs = std::filesystem;
using cerebra::PluginLoader;
using cerebra::PluginStatus;
using cerebra::Registry;

namespace {

std::string test_plugin(const std::string& name) {
  return (fs::path(CEREBRA_TEST_PLUGIN_DIR) / ("libcerebra_test_" + name + ".so")).string();
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST(PluginLoader, LoadsAGoodPluginAndRegistersItsComponents) {
  Registry registry;
  PluginLoader loader(registry);
  const auto& record = loader.load(test_plugin("good"));
  EXPECT_EQ(record.status, PluginStatus::Loaded) << record.message;
  EXPECT_EQ(record.name, "test_good");
  EXPECT_EQ(record.version, "1.2.3");
  EXPECT_EQ(record.description, "A plugin that loads");
  EXPECT_EQ(record.framework_version, CEREBRA_VERSION_STRING);  // what it was compiled against
  ASSERT_EQ(record.components.size(), 1u);
  EXPECT_EQ(record.components[0], "transform/test_invert");

  const auto* info = registry.try_find("transform", "test_invert");
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->plugin_file, test_plugin("good"));
  EXPECT_EQ(info->plugin_name, "test_good");
  EXPECT_EQ(info->schema.parameters().size(), 2u);
}

TEST(PluginLoader, RefusesAWrongAbiVersionNamingBothVersionsAndTheFile) {
  Registry registry;
  PluginLoader loader(registry);
  const auto& record = loader.load(test_plugin("wrong_abi"));
  EXPECT_EQ(record.status, PluginStatus::AbiMismatch);
  EXPECT_TRUE(contains(record.message, test_plugin("wrong_abi"))) << record.message;
  EXPECT_TRUE(contains(record.message, "expected ABI version " + std::to_string(CEREBRA_PLUGIN_ABI_VERSION) + ", found 999")) << record.message;
  EXPECT_TRUE(registry.list().empty());
}

TEST(PluginLoader, RefusesAPluginBuiltAgainstAnotherFrameworkNamingTheFileAndBothVersions) {
  Registry registry;
  PluginLoader loader(registry);
  const auto& record = loader.load(test_plugin("wrong_framework"));
  EXPECT_EQ(record.status, PluginStatus::FrameworkMismatch) << record.message;
  EXPECT_EQ(record.framework_version, "99.0.0");
  EXPECT_TRUE(contains(record.message, test_plugin("wrong_framework"))) << record.message;
  EXPECT_TRUE(contains(record.message, "built against Cerebra 99.0.0, but this is Cerebra " +
                                           std::string(CEREBRA_VERSION_STRING)))
      << record.message;
  EXPECT_TRUE(registry.list().empty());  // its register callback (which throws) never ran
}

TEST(PluginLoader, ReportsALibraryWithoutTheEntryPoint) {
  Registry registry;
  PluginLoader loader(registry);
  const auto& record = loader.load(test_plugin("no_entry"));
  EXPECT_EQ(record.status, PluginStatus::NotAPlugin);
  EXPECT_TRUE(contains(record.message, test_plugin("no_entry"))) << record.message;
  EXPECT_TRUE(contains(record.message, "not a Cerebra plugin")) << record.message;
  EXPECT_TRUE(contains(record.message, "cerebra_plugin_descriptor")) << record.message;
}

TEST(PluginLoader, RollsBackAPluginWhoseRegisterThrows) {
  Registry registry;
  PluginLoader loader(registry);
  const auto& record = loader.load(test_plugin("throws"));
  EXPECT_EQ(record.status, PluginStatus::RegisterThrew);
  EXPECT_TRUE(contains(record.message, "simulated failure while registering")) << record.message;
  EXPECT_TRUE(contains(record.message, test_plugin("throws"))) << record.message;
  // It registered a component before throwing; none of it may remain.
  EXPECT_EQ(registry.try_find("transform", "test_half_registered"), nullptr);
  EXPECT_TRUE(registry.list().empty());
}

TEST(PluginLoader, ADuplicateComponentNamesBothFiles) {
  Registry registry;
  PluginLoader loader(registry);
  EXPECT_EQ(loader.load(test_plugin("duplicate_a")).status, PluginStatus::Loaded);
  const auto& record = loader.load(test_plugin("duplicate_b"));
  EXPECT_EQ(record.status, PluginStatus::DuplicateComponent);
  EXPECT_TRUE(contains(record.message, "metric/test_duplicate")) << record.message;
  EXPECT_TRUE(contains(record.message, test_plugin("duplicate_a"))) << record.message;
  EXPECT_TRUE(contains(record.message, test_plugin("duplicate_b"))) << record.message;
  // The first registration stands.
  EXPECT_EQ(registry.find("metric", "test_duplicate").plugin_name, "test_duplicate_a");
}

TEST(PluginLoader, ATextFileNamedLikeALibraryCannotBeOpened) {
  Registry registry;
  PluginLoader loader(registry);
  const auto& record = loader.load(test_plugin("text"));
  EXPECT_EQ(record.status, PluginStatus::CannotOpen);
  EXPECT_TRUE(contains(record.message, test_plugin("text"))) << record.message;
  // The system's reason is passed on.
  EXPECT_TRUE(contains(record.message, "invalid ELF header") || contains(record.message, "too short"))
      << record.message;
  // ...and nothing after it that is not the reason (Boost appends its error code's text).
  EXPECT_FALSE(contains(record.message, "Bad file descriptor")) << record.message;
}

TEST(PluginLoader, AMissingFileCannotBeOpened) {
  Registry registry;
  PluginLoader loader(registry);
  const auto& record = loader.load("/nonexistent/libnothing.so");
  EXPECT_EQ(record.status, PluginStatus::CannotOpen);
  EXPECT_TRUE(contains(record.message, "/nonexistent/libnothing.so")) << record.message;
}

TEST(PluginLoader, LoadAllVisitsEveryLibraryOnceAndRecordsEachOutcome) {
  Registry registry;
  PluginLoader loader(registry);
  cerebra::PluginSearchOptions options;
  // The same folder twice: each file must still be loaded once.
  options.extra_paths = {CEREBRA_TEST_PLUGIN_DIR, CEREBRA_TEST_PLUGIN_DIR};
  options.use_environment = false;
  options.use_default_path = false;
  loader.load_all(options);

  std::map<std::string, PluginStatus> outcome;
  for (const auto& record : loader.records()) {
    outcome[fs::path(record.file).filename().string()] = record.status;
  }
  EXPECT_EQ(outcome.size(), 8u);
  EXPECT_EQ(outcome["libcerebra_test_good.so"], PluginStatus::Loaded);
  EXPECT_EQ(outcome["libcerebra_test_wrong_abi.so"], PluginStatus::AbiMismatch);
  EXPECT_EQ(outcome["libcerebra_test_wrong_framework.so"], PluginStatus::FrameworkMismatch);
  EXPECT_EQ(outcome["libcerebra_test_no_entry.so"], PluginStatus::NotAPlugin);
  EXPECT_EQ(outcome["libcerebra_test_throws.so"], PluginStatus::RegisterThrew);
  EXPECT_EQ(outcome["libcerebra_test_duplicate_a.so"], PluginStatus::Loaded);
  EXPECT_EQ(outcome["libcerebra_test_duplicate_b.so"], PluginStatus::DuplicateComponent);
  EXPECT_EQ(outcome["libcerebra_test_text.so"], PluginStatus::CannotOpen);
  EXPECT_EQ(loader.failures().size(), 6u);
}

TEST(PluginLoader, SearchPathHonoursTheEnvironmentVariable) {
  cerebra::testing::ScopedEnv path("CEREBRA_PLUGIN_PATH", "/first:/second");
  cerebra::PluginSearchOptions options;
  options.extra_paths = {"/cli"};
  options.use_default_path = false;
  auto folders = PluginLoader::search_path(options);
  EXPECT_EQ(folders, (std::vector<std::string>{"/cli", "/first", "/second"}));
}

// This test binary uses the build tree's libcerebra, which alone may search
// the build's plugin folder (test_out_of_tree covers the installed copy).
TEST(PluginLoader, TheBuildTreeLibrarySearchesTheBuildPluginFolder) {
  EXPECT_TRUE(fs::equivalent(PluginLoader::default_plugin_folder(), CEREBRA_PLUGIN_DIR))
      << PluginLoader::default_plugin_folder();
}

TEST(PluginLoader, ComponentsOutliveTheLoaderThatLoadedThem) {
  // Libraries stay loaded for the process: a component made after the loader
  // is gone must still work.
  Registry registry;
  {
    PluginLoader loader(registry);
    ASSERT_EQ(loader.load(test_plugin("good")).status, PluginStatus::Loaded);
  }
  auto transform = registry.create_as<cerebra::Transform>("transform", "test_invert", {});
  cv::Mat image(2, 2, CV_8UC1, cv::Scalar(10));
  std::mt19937_64 rng(1);
  cv::Mat inverted = transform->apply(image, rng);
  EXPECT_EQ(inverted.at<unsigned char>(0, 0), 245);
}
