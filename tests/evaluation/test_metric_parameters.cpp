// Metric parameters set in a real pipeline file ([evaluation.NAME] tables)
// reach the metrics the trainer and `cerebra eval` compute.
#include <gtest/gtest.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "run_support.h"
#include "test_support.h"

namespace fs = std::filesystem;
using cerebra::testing::cli;
using cerebra::testing::first_run;
using cerebra::testing::read_json;
using cerebra::testing::read_text;
using cerebra::testing::run_command;
using cerebra::testing::TempDir;
using cerebra::testing::write_text;

TEST(MetricParameters, ATableChangesTheHeadlineAndBootstrapOfItsMetricOnly) {
  TempDir dir;
  write_text(dir.file("tiny.toml"), cerebra::testing::tiny_pipeline(1) + R"(
[evaluation]
metrics = ["accuracy", "f1", "worst_class_recall"]

[evaluation.f1]
average = "weighted"
bootstrap = 20
)");
  auto result = run_command(cli() + " run " + dir.file("tiny.toml") + " --set run.output=" + dir.file("runs"));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const fs::path run = first_run(dir.file("runs"));

  auto test = read_json(run / "summary.json")["test"]["metrics"];
  EXPECT_EQ(test["f1"]["average"], "weighted");
  EXPECT_EQ(test["f1"]["value"], test["f1"]["weighted"]);
  // Bootstrap intervals for f1 alone: [evaluation] bootstrap stays 0.
  EXPECT_TRUE(test["f1"].contains("ci95")) << test.dump(2);
  EXPECT_EQ(test["f1"]["bootstrap"]["resamples"], 20);
  EXPECT_FALSE(test["accuracy"].contains("ci95")) << test.dump(2);

  // The resolved pipeline keeps the table, and `cerebra eval` applies it again.
  EXPECT_NE(read_text(run / "pipeline.toml").find("[evaluation.f1]\naverage = \"weighted\"\nbootstrap = 20\n"),
            std::string::npos);
  auto eval = run_command(cli() + " eval " + run.string());
  ASSERT_EQ(eval.exit_code, 0) << eval.output;
  auto again = read_json(run / "eval" / "metrics.json")["metrics"];
  EXPECT_EQ(again["f1"]["average"], "weighted");
  EXPECT_EQ(again["f1"]["value"], test["f1"]["value"]);
  // The table names the class worst_class_recall is about.
  const auto worst = again["worst_class_recall"];
  ASSERT_TRUE(worst["class"].is_string()) << worst.dump();
  EXPECT_NE(eval.output.find("worst (" + worst["class"].get<std::string>() + ")"), std::string::npos) << eval.output;
}

TEST(MetricParameters, AWrongValueStopsTheRunBeforeTrainingWithItsPosition) {
  TempDir dir;
  const std::string pipeline = cerebra::testing::tiny_pipeline(1) + "\n[evaluation.f1]\naverage = \"weigthed\"\n";
  write_text(dir.file("tiny.toml"), pipeline);
  auto result = run_command(cli() + " run " + dir.file("tiny.toml") + " --set run.output=" + dir.file("runs") + " 2>&1");
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_NE(result.output.find(dir.file("tiny.toml") + ":"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("[evaluation.f1]: 'average': \"weigthed\" is not one of auto, macro, weighted, binary "
                               "(did you mean 'weighted'?)"),
            std::string::npos)
      << result.output;
  EXPECT_FALSE(fs::exists(dir.file("runs")));
}
