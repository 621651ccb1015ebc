// The `cerebra` command as a user runs it.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "cerebra/plugin_abi.h"
#include "test_support.h"

using cerebra::testing::run_command;
using cerebra::testing::TempDir;
using cerebra::testing::write_text;

namespace {
std::string cli() { return std::string("env -u CEREBRA_PLUGIN_PATH ") + CEREBRA_CLI; }
bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}
}  // namespace

TEST(Cli, VersionAndHelp) {
  auto version = run_command(cli() + " --version");
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_TRUE(contains(version.output, "cerebra 0.")) << version.output;
  for (const char* verb : {"list", "inspect", "validate", "run"}) {
    auto help = run_command(cli() + " " + verb + " --help");
    EXPECT_EQ(help.exit_code, 0) << verb;
    EXPECT_TRUE(contains(help.output, std::string("cerebra ") + verb)) << help.output;
    EXPECT_TRUE(contains(help.output, "--plugin-path")) << help.output;
  }
  auto top = run_command(cli() + " --help");
  EXPECT_TRUE(contains(top.output, "130 interrupted")) << top.output;
}

TEST(Cli, BadUsageExitsWithTwo) {
  EXPECT_EQ(run_command(cli()).exit_code, 2);
  auto unknown = run_command(cli() + " frobnicate");
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_TRUE(contains(unknown.output, "unknown command 'frobnicate'")) << unknown.output;
  EXPECT_EQ(run_command(cli() + " inspect").exit_code, 2);
  EXPECT_EQ(run_command(cli() + " list --no-such-option").exit_code, 2);
  auto kind = run_command(cli() + " list architectur");
  EXPECT_EQ(kind.exit_code, 2);
  EXPECT_TRUE(contains(kind.output, "did you mean 'architecture'?")) << kind.output;
}

TEST(Cli, ListJsonIsValidAndNamesEveryComponentWithItsPluginFile) {
  auto result = run_command(cli() + " list --json");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  auto json = nlohmann::json::parse(result.output);
  ASSERT_TRUE(json.is_array());
  ASSERT_FALSE(json.empty());
  std::set<std::string> kinds;
  for (const auto& component : json) {
    kinds.insert(component.at("kind").get<std::string>());
    EXPECT_FALSE(component.at("name").get<std::string>().empty());
    // Built-in callbacks and the pool dataset come from the host itself, everything else from a plugin file.
    const std::string file = component.at("plugin_file").get<std::string>();
    const bool built_in = component.at("kind") == "callback" ||
                          (component.at("kind") == "dataset" && component.at("name") == "pool");
    EXPECT_TRUE(contains(file, CEREBRA_PLUGIN_DIR) || (built_in && file == "(built in)")) << component.dump();
    EXPECT_TRUE(component.at("parameters").is_array());
  }
  EXPECT_EQ(kinds, (std::set<std::string>{"architecture", "callback", "dataset", "loss", "metric", "objective",
                                          "optimizer", "schedule", "transform"}));
}

TEST(Cli, ListsEachTrainingKind) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> expected{
      {"loss", {"cross_entropy", "focal"}},
      {"optimizer", {"adam", "adamw", "sgd"}},
      {"schedule", {"constant", "cosine", "one_cycle", "plateau", "step"}},
      {"objective", {"classification", "contrastive"}},
      {"callback", {"checkpoint", "early_stopping", "metrics_log", "progress", "report", "store", "summary"}}};
  for (const auto& [kind, names] : expected) {
    auto result = run_command(cli() + " list " + kind + " --json");
    ASSERT_EQ(result.exit_code, 0) << result.output;
    std::vector<std::string> found;
    for (const auto& component : nlohmann::json::parse(result.output)) found.push_back(component.at("name"));
    EXPECT_EQ(found, names) << kind;
  }
  auto inspect = run_command(cli() + " inspect one_cycle");
  EXPECT_EQ(inspect.exit_code, 0);
  EXPECT_TRUE(contains(inspect.output, "warmup_epochs")) << inspect.output;
  EXPECT_TRUE(contains(inspect.output, "pct_start")) << inspect.output;
}

TEST(Cli, ListPluginsShowsSkippedPluginsAndWhy) {
  auto result = run_command(cli() + " list plugins --plugin-path " CEREBRA_TEST_PLUGIN_DIR);
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_TRUE(contains(result.output, "ABI version mismatch")) << result.output;
  EXPECT_TRUE(contains(result.output, "expected ABI version " + std::to_string(CEREBRA_PLUGIN_ABI_VERSION) + ", found 999")) << result.output;
  EXPECT_TRUE(contains(result.output, "register threw")) << result.output;
  EXPECT_TRUE(contains(result.output, "libcerebra_test_text.so")) << result.output;
  EXPECT_TRUE(contains(result.output, "transform/test_invert")) << result.output;
  EXPECT_TRUE(contains(result.output, "built against")) << result.output;
  EXPECT_TRUE(contains(result.output, "framework version mismatch")) << result.output;

  auto json = nlohmann::json::parse(
      run_command(cli() + " list plugins --json --plugin-path " CEREBRA_TEST_PLUGIN_DIR + std::string(" 2>/dev/null")).output);
  int skipped = 0;
  std::map<std::string, std::string> built_against;
  for (const auto& plugin : json) {
    skipped += plugin.at("loaded").get<bool>() ? 0 : 1;
    built_against[plugin.at("name").get<std::string>()] = plugin.at("framework_version").get<std::string>();
  }
  EXPECT_EQ(skipped, 6);
  EXPECT_EQ(built_against["test_good"], CEREBRA_VERSION_STRING);
  EXPECT_EQ(built_against["test_wrong_framework"], "99.0.0");
}

TEST(Cli, AFailedPluginWarnsButStrictMakesItFatal) {
  auto lenient = run_command(cli() + " list --plugin-path " CEREBRA_TEST_PLUGIN_DIR);
  EXPECT_EQ(lenient.exit_code, 0);
  EXPECT_TRUE(contains(lenient.output, "warning: ")) << lenient.output;
  EXPECT_TRUE(contains(lenient.output, "(plugin skipped)")) << lenient.output;
  EXPECT_TRUE(contains(lenient.output, "test_invert")) << lenient.output;

  auto strict = run_command(cli() + " list --strict --plugin-path " CEREBRA_TEST_PLUGIN_DIR);
  EXPECT_EQ(strict.exit_code, 3);
  EXPECT_TRUE(contains(strict.output, "error: ")) << strict.output;
}

TEST(Cli, PluginPathFromTheEnvironment) {
  auto result = run_command(std::string("CEREBRA_PLUGIN_PATH=") + CEREBRA_TEST_PLUGIN_DIR + " " +
                            CEREBRA_CLI + " list transform 2>/dev/null");
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_TRUE(contains(result.output, "test_invert")) << result.output;
}

TEST(Cli, InspectShowsParametersAsTextAndJson) {
  auto text = run_command(cli() + " inspect test_invert --plugin-path " CEREBRA_TEST_PLUGIN_DIR " 2>/dev/null");
  EXPECT_EQ(text.exit_code, 0) << text.output;
  EXPECT_TRUE(contains(text.output, "level")) << text.output;
  EXPECT_TRUE(contains(text.output, "[0, 255]")) << text.output;
  EXPECT_TRUE(contains(text.output, "one of full, half")) << text.output;

  auto json = nlohmann::json::parse(
      run_command(cli() + " inspect transform/test_invert --json --plugin-path " CEREBRA_TEST_PLUGIN_DIR " 2>/dev/null").output);
  EXPECT_EQ(json.at("name"), "test_invert");
  EXPECT_EQ(json.at("parameters").at(0).at("default"), 255);
  EXPECT_EQ(json.at("parameters").at(0).at("maximum"), 255.0);

  auto section = run_command(cli() + " inspect training");
  EXPECT_EQ(section.exit_code, 0);
  EXPECT_TRUE(contains(section.output, "batch_size")) << section.output;

  auto missing = run_command(cli() + " inspect test_invrt --plugin-path " CEREBRA_TEST_PLUGIN_DIR " 2>&1");
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_TRUE(contains(missing.output, "did you mean 'test_invert'?")) << missing.output;
}

TEST(Cli, ValidateReportsProblemsWithPositionsAndExitsTwo) {
  TempDir dir;
  write_text(dir.file("bad.toml"), "[dataset]\ntype = \"synthetic\"\n[model]\ntype = \"cnn\"\n[training]\nepochs = 0\n");
  auto result = run_command(cli() + " validate " + dir.file("bad.toml"));
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_TRUE(contains(result.output, dir.file("bad.toml") + ":6:10: [training]: 'epochs': 0 is out of range"))
      << result.output;
  EXPECT_TRUE(contains(result.output, "1 problem")) << result.output;

  auto fixed = run_command(cli() + " validate " + dir.file("bad.toml") + " --set training.epochs=2");
  EXPECT_EQ(fixed.exit_code, 0) << fixed.output;
  EXPECT_TRUE(contains(fixed.output, "valid")) << fixed.output;
}

TEST(Cli, InspectShowsWhatAnArchitectureDeclares) {
  auto text = run_command(cli() + " inspect cnn");
  ASSERT_EQ(text.exit_code, 0) << text.output;
  for (const char* part : {"input size: 64x64 by default; takes exactly 64x64 (set by its input_size parameter)",
                           "normalisation: mean 0, 0, 0; std 1, 1, 1", "Grad-CAM layer: conv3", "head group: head",
                           "block1", "fc1, fc2"}) {
    EXPECT_TRUE(contains(text.output, part)) << part << "\n" << text.output;
  }

  auto json = nlohmann::json::parse(run_command(cli() + " inspect architecture/inception_v3 --json").output);
  const auto& architecture = json.at("architecture");
  EXPECT_EQ(architecture.at("input_size"), 299);
  EXPECT_EQ(architecture.at("accepted_input").at("min_size"), 299);
  EXPECT_EQ(architecture.at("accepted_input").at("fixed"), false);
  EXPECT_EQ(architecture.at("head_group"), "head");
  EXPECT_EQ(architecture.at("gradcam_layer"), "Mixed_7c");
  EXPECT_EQ(architecture.at("layer_groups").at(0).at("name"), "stem");
  EXPECT_EQ(architecture.at("mean").size(), 3u);

  // `list --json` carries the same for every architecture.
  auto list = nlohmann::json::parse(run_command(cli() + " list architecture --json").output);
  for (const auto& component : list) EXPECT_TRUE(component.at("architecture").contains("layer_groups")) << component;
}

TEST(Cli, ValidateAndRunRefuseAPreprocessingTheModelCannotTake) {
  TempDir dir;
  write_text(dir.file("p.toml"),
             "[dataset]\ntype = \"synthetic\"\n[[preprocess]]\ntype = \"resize\"\nsize = 128\n[model]\ntype = \"cnn\"\n");
  const std::string expected = dir.file("p.toml") + ":3:1: [[preprocess]] #1 (resize): gives 128x128 images, but "
                                                    "[model] (cnn, " + dir.file("p.toml") + ":6:1) takes exactly 64x64";
  for (const char* verb : {" validate ", " run "}) {
    auto result = run_command(cli() + verb + dir.file("p.toml") + " --set run.output=" + dir.file("runs") + " 2>&1");
    EXPECT_EQ(result.exit_code, 2) << result.output;
    EXPECT_TRUE(contains(result.output, expected)) << result.output;
  }
  EXPECT_FALSE(std::filesystem::exists(dir.file("runs")));
}
