// Callbacks end to end: a plugin's hooks are called in order with the run's
// state, early stopping ends a run, always-on callbacks cannot be listed twice.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "run_support.h"
#include "test_support.h"

namespace fs = std::filesystem;
using cerebra::testing::cli;
using cerebra::testing::only_run;
using cerebra::testing::read_json;
using cerebra::testing::read_metrics;
using cerebra::testing::read_text;
using cerebra::testing::run_command;
using cerebra::testing::TempDir;
using cerebra::testing::write_text;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace

TEST(Callbacks, APluginCallbackSeesEveryHookInOrder) {
  TempDir dir;
  // 160 images, 70% train = 112, batches of 16: 7 batches an epoch.
  write_text(dir.file("p.toml"), cerebra::testing::tiny_pipeline(2) + "\n[[callbacks]]\ntype = \"test_recorder\"\nfile = \"" +
                                     dir.file("calls.txt") + "\"\n");
  auto result = run_command(cli() + " run " + dir.file("p.toml") + " --plugin-path " CEREBRA_TEST_PLUGIN_DIR
                            "/training --set run.output=" + dir.file("runs"));
  ASSERT_EQ(result.exit_code, 0) << result.output;

  std::vector<std::string> expected{"run_start epochs=2 dir=true"};
  for (int epoch = 1; epoch <= 2; ++epoch) {
    expected.push_back("epoch_start " + std::to_string(epoch));
    for (int batch = 1; batch <= 7; ++batch) {
      expected.push_back("batch_start " + std::to_string(batch));
      expected.push_back("batch_end " + std::to_string(batch) + " seen=" + std::to_string(std::min(16 * batch, 112)));
    }
    expected.push_back("epoch_end " + std::to_string(epoch) + " figures_epoch=" + std::to_string(epoch) +
                       " has_val_loss=true");
  }
  expected.push_back("run_end completed summary_status=completed");
  EXPECT_EQ(lines_of(read_text(dir.file("calls.txt"))), expected);
}

TEST(Callbacks, EarlyStoppingEndsTheRunAndSaysWhy) {
  TempDir dir;
  // A learning rate of zero never improves on the first epoch.
  write_text(dir.file("p.toml"), cerebra::testing::tiny_pipeline(10) +
                                     "\n[optimizer]\ntype = \"adam\"\nlearning_rate = 0.0\n"
                                     "\n[[callbacks]]\ntype = \"early_stopping\"\npatience = 2\n");
  auto result = run_command(cli() + " run " + dir.file("p.toml") + " --set run.output=" + dir.file("runs"));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("no improvement of val_accuracy for 2 epochs"), std::string::npos) << result.output;
  const fs::path run = only_run(dir.file("runs"));
  EXPECT_EQ(read_metrics(run).size(), 3u);
  auto summary = read_json(run / "summary.json");
  EXPECT_EQ(summary["status"], "early_stopped");
  EXPECT_EQ(summary["best_epoch"], 1);
  EXPECT_TRUE(summary.contains("test"));
}

TEST(Callbacks, AnAlwaysOnCallbackCannotBeListedAgain) {
  TempDir dir;
  write_text(dir.file("p.toml"), cerebra::testing::tiny_pipeline(1) + "\n[[callbacks]]\ntype = \"checkpoint\"\n");
  auto result = run_command(cli() + " run " + dir.file("p.toml") + " --set run.output=" + dir.file("runs"));
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_NE(result.output.find("[[callbacks]] #1: 'checkpoint' always runs; remove it from the pipeline"),
            std::string::npos)
      << result.output;
}

TEST(Callbacks, ScheduleAndEarlyStoppingStateSurviveAResume) {
  TempDir dir;
  const std::string pipeline = cerebra::testing::tiny_pipeline(4) +
                               "\n[schedule]\ntype = \"plateau\"\npatience = 0\ngamma = 0.5\nmonitor = \"val_accuracy\"\n"
                               "\n[[callbacks]]\ntype = \"early_stopping\"\npatience = 3\n";
  write_text(dir.file("p.toml"), pipeline);
  ASSERT_EQ(run_command(cli() + " run " + dir.file("p.toml") + " --set run.output=" + dir.file("whole")).exit_code, 0);
  // The same run in two halves: two epochs, then resumed to four.
  ASSERT_EQ(run_command(cli() + " run " + dir.file("p.toml") + " --set run.output=" + dir.file("halves") +
                        " --set training.epochs=2").exit_code, 0);
  const fs::path halves = only_run(dir.file("halves"));
  std::string text = read_text(halves / "pipeline.toml");
  text.replace(text.find("epochs = 2\n"), 11, "epochs = 4\n");
  write_text((halves / "pipeline.toml").string(), text);
  auto resumed = run_command(cli() + " run --resume " + halves.string());
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  auto whole = read_metrics(only_run(dir.file("whole"))), parts = read_metrics(halves);
  ASSERT_EQ(whole.size(), parts.size());
  for (std::size_t i = 0; i < whole.size(); ++i) {
    SCOPED_TRACE("epoch " + std::to_string(i + 1));
    EXPECT_EQ(whole[i]["learning_rate"], parts[i]["learning_rate"]);
    EXPECT_NEAR(whole[i]["train_loss"].get<double>(), parts[i]["train_loss"].get<double>(), 1e-6);
    EXPECT_EQ(whole[i]["best"], parts[i]["best"]);
  }
}
