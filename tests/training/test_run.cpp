// End to end through the `cerebra` command on the built-in synthetic data.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "run_support.h"
#include "test_support.h"

namespace fs = std::filesystem;
using cerebra::testing::cli;
using cerebra::testing::only_run;
using cerebra::testing::read_json;
using cerebra::testing::read_metrics;
using cerebra::testing::run_command;
using cerebra::testing::TempDir;
using cerebra::testing::write_text;
using nlohmann::json;

namespace {

const std::string kPipeline = cerebra::testing::tiny_pipeline(3);

}  // namespace

TEST(Run, WritesACompleteRunDirectory) {
  TempDir dir;
  write_text(dir.file("tiny.toml"), kPipeline);
  auto result = run_command(cli() + " run " + dir.file("tiny.toml") + " --set run.output=" + dir.file("runs"));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  fs::path run = only_run(dir.file("runs"));
  for (const char* file : {"pipeline.toml", "split.csv", "metrics.jsonl", "summary.json",
                           "checkpoints/best.pt", "checkpoints/last.pt", "eval/predictions_test.csv"}) {
    EXPECT_TRUE(fs::exists(run / file)) << file;
  }
  // No temporary files are left behind.
  for (const auto& entry : fs::recursive_directory_iterator(run)) {
    EXPECT_NE(entry.path().extension(), ".tmp") << entry.path();
  }
  auto metrics = read_metrics(run);
  ASSERT_EQ(metrics.size(), 3u);
  for (const char* key : {"epoch", "train_loss", "val_loss", "val_accuracy", "val_f1", "learning_rate",
                          "images_per_second", "seconds"}) {
    EXPECT_TRUE(metrics[0].contains(key)) << key;
  }
  json summary = read_json(run / "summary.json");
  EXPECT_EQ(summary["status"], "completed");
  EXPECT_EQ(summary["epochs_completed"], 3);
  EXPECT_EQ(summary["split"]["train"].get<int>() + summary["split"]["val"].get<int>() +
                summary["split"]["test"].get<int>(),
            160);
  double accuracy = summary["test"]["metrics"]["accuracy"]["value"].get<double>();
  EXPECT_GE(accuracy, 0.0);
  EXPECT_LE(accuracy, 1.0);
  // The resolved pipeline names every default and reads back.
  std::ifstream resolved(run / "pipeline.toml");
  std::string text((std::istreambuf_iterator<char>(resolved)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("learning_rate = 0.001"), std::string::npos) << text;
  EXPECT_EQ(run_command(cli() + " validate " + (run / "pipeline.toml").string()).exit_code, 0);
}

TEST(Run, TheSameSeedGivesTheSameMetricsAndResumeContinuesExactly) {
  TempDir dir;
  write_text(dir.file("tiny.toml"), kPipeline);
  // A: three epochs in one go.
  ASSERT_EQ(run_command(cli() + " run " + dir.file("tiny.toml") + " --set run.output=" + dir.file("a")).exit_code, 0);
  // B: one epoch, then the resolved pipeline is extended to three and resumed.
  ASSERT_EQ(run_command(cli() + " run " + dir.file("tiny.toml") + " --set run.output=" + dir.file("b") +
                        " --set training.epochs=1").exit_code, 0);
  // C: the same three epochs again.
  ASSERT_EQ(run_command(cli() + " run " + dir.file("tiny.toml") + " --set run.output=" + dir.file("c")).exit_code, 0);
  fs::path a = only_run(dir.file("a")), b = only_run(dir.file("b")), c = only_run(dir.file("c"));

  auto metrics_a = read_metrics(a), metrics_c = read_metrics(c);
  ASSERT_EQ(metrics_a.size(), 3u);
  ASSERT_EQ(metrics_c.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(metrics_a[i]["train_loss"], metrics_c[i]["train_loss"]) << "epoch " << i + 1;
    EXPECT_EQ(metrics_a[i]["val_loss"], metrics_c[i]["val_loss"]) << "epoch " << i + 1;
  }

  std::ifstream in(b / "pipeline.toml");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto at = text.find("epochs = 1\n");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, 11, "epochs = 3\n");
  write_text((b / "pipeline.toml").string(), text);
  auto resumed = run_command(cli() + " run --resume " + b.string());
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("resuming after epoch 1"), std::string::npos) << resumed.output;
  auto metrics_b = read_metrics(b);
  ASSERT_EQ(metrics_b.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_NEAR(metrics_a[i]["train_loss"].get<double>(), metrics_b[i]["train_loss"].get<double>(), 1e-6)
        << "epoch " << i + 1;
    EXPECT_NEAR(metrics_a[i]["val_loss"].get<double>(), metrics_b[i]["val_loss"].get<double>(), 1e-6)
        << "epoch " << i + 1;
  }
}

TEST(Run, ErrorsBeforeTrainingNameTheProblem) {
  TempDir dir;
  write_text(dir.file("bad.toml"), std::string(kPipeline) + "[[preprocess]]\ntype = \"random_flip\"\n");
  auto result = run_command(cli() + " run " + dir.file("bad.toml") + " --set run.output=" + dir.file("runs"));
  EXPECT_EQ(result.exit_code, 2) << result.output;  // caught by validation, at the stage's table
  EXPECT_NE(result.output.find("[[preprocess]] #2 (random_flip): a random stage in the wrong section"),
            std::string::npos)
      << result.output;

  auto missing = run_command(cli() + " run --resume " + dir.file("nowhere"));
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.output.find(dir.file("nowhere") + ": no such run directory"), std::string::npos) << missing.output;
  fs::create_directories(dir.file("empty"));
  auto empty = run_command(cli() + " run --resume " + dir.file("empty"));
  EXPECT_EQ(empty.exit_code, 1);
  EXPECT_NE(empty.output.find(dir.file("empty") + ": not a run directory (no pipeline.toml)"), std::string::npos)
      << empty.output;

  write_text(dir.file("tiny.toml"), kPipeline);
  auto weights = run_command(cli() + " run " + dir.file("tiny.toml") + " --set run.output=" + dir.file("runs") +
                             " --set transfer.weights=" + dir.file("missing.pth"));
  EXPECT_EQ(weights.exit_code, 1);
  EXPECT_NE(weights.output.find(dir.file("missing.pth") + " does not exist"), std::string::npos) << weights.output;
  EXPECT_NE(weights.output.find("allow_scratch"), std::string::npos) << weights.output;
  // A run that failed before its first epoch leaves no stub folder behind.
  EXPECT_TRUE(!fs::exists(dir.file("runs")) || fs::is_empty(dir.file("runs")));
}

TEST(Run, CtrlCStopsCleanlyAndTheRunResumes) {
  TempDir dir;
  write_text(dir.file("tiny.toml"), kPipeline);
  const std::string output = dir.file("runs");
  // Start a long run, wait for its first epoch line, then send SIGINT.
  const std::string script =
      "( " + cli() + " run " + dir.file("tiny.toml") + " --set run.output=" + output +
      " --set training.epochs=200 > " + dir.file("log.txt") + " 2>&1 & pid=$!; "
      "for i in $(seq 1 600); do if [ -s \"$(ls -d " + output + "/*/ 2>/dev/null | head -1)metrics.jsonl\" ]; "
      "then break; fi; sleep 0.1; done; kill -INT $pid; wait $pid; echo \"exit=$?\" )";
  auto result = run_command(script);
  EXPECT_NE(result.output.find("exit=130"), std::string::npos) << result.output;
  fs::path run = only_run(output);
  json summary = read_json(run / "summary.json");
  EXPECT_EQ(summary["status"], "interrupted");
  const int completed = summary["epochs_completed"].get<int>();
  EXPECT_GE(completed, 1);
  EXPECT_LT(completed, 200);
  EXPECT_TRUE(fs::exists(run / "checkpoints" / "last.pt"));
  EXPECT_EQ(read_metrics(run).size(), static_cast<std::size_t>(completed));

  // Shorten the run and resume it: it continues from the last whole epoch.
  std::ifstream in(run / "pipeline.toml");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto at = text.find("epochs = 200\n");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, 13, "epochs = " + std::to_string(completed + 1) + "\n");
  write_text((run / "pipeline.toml").string(), text);
  auto resumed = run_command(cli() + " run --resume " + run.string());
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_EQ(read_json(run / "summary.json")["status"], "completed");
  EXPECT_EQ(read_metrics(run).size(), static_cast<std::size_t>(completed + 1));
}

TEST(Run, ANonFiniteLossStopsTheRunNamingEpochAndBatchAndKeepsTheLastGoodCheckpoint) {
  TempDir dir;
  // 112 training images in batches of 16: 7 batches an epoch, so the 12th
  // training pass is batch 5 of epoch 2.
  std::string pipeline = kPipeline;
  pipeline.replace(pipeline.find("type = \"cnn\"\ninput_size = 32"), 29, "type = \"test_nan_net\"");
  write_text(dir.file("nan.toml"), pipeline);
  auto result = run_command(cli() + " run " + dir.file("nan.toml") + " --plugin-path " CEREBRA_TEST_PLUGIN_DIR
                            "/training --set run.output=" + dir.file("runs"));
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_NE(result.output.find("non-finite loss (nan) at epoch 2, batch 5"), std::string::npos) << result.output;
  fs::path run = only_run(dir.file("runs"));
  json summary = read_json(run / "summary.json");
  EXPECT_EQ(summary["status"], "failed");
  EXPECT_EQ(summary["epochs_completed"], 1);
  EXPECT_EQ(read_metrics(run).size(), 1u);
  EXPECT_TRUE(fs::exists(run / "checkpoints" / "best.pt"));
  EXPECT_TRUE(fs::exists(run / "checkpoints" / "last.pt"));
}

TEST(Run, FeatureExtractionCachesFeaturesFreezesTheBackboneAndMatchesTheUncachedPath) {
  TempDir dir;
  std::string pipeline = kPipeline;
  // No augmentation: the features of an image never change.
  pipeline.erase(pipeline.find("[[augment]]"), std::string("[[augment]]\ntype = \"random_flip\"\n").size());
  write_text(dir.file("tiny.toml"), pipeline);
  // A: a scratch run whose checkpoint starts the others.
  ASSERT_EQ(run_command(cli() + " run " + dir.file("tiny.toml") + " --set run.output=" + dir.file("a") +
                        " --set training.epochs=1").exit_code, 0);
  const fs::path a = only_run(dir.file("a"));
  const std::string common = " --set transfer.mode=feature_extract --set transfer.weights=" + a.string() +
                             " --set training.epochs=2";
  // B: cached features.
  auto cached = run_command(cli() + " run " + dir.file("tiny.toml") + " --set run.output=" + dir.file("b") + common);
  ASSERT_EQ(cached.exit_code, 0) << cached.output;
  EXPECT_NE(cached.output.find("features are computed once and cached"), std::string::npos) << cached.output;
  // C: the same with a random stage that never fires, so nothing is cached.
  write_text(dir.file("noop.toml"), pipeline + "[[augment]]\ntype = \"random_flip\"\nhorizontal = 0.0\n");
  auto uncached = run_command(cli() + " run " + dir.file("noop.toml") + " --set run.output=" + dir.file("c") + common);
  ASSERT_EQ(uncached.exit_code, 0) << uncached.output;
  EXPECT_EQ(uncached.output.find("features are computed once and cached"), std::string::npos);

  const fs::path b = only_run(dir.file("b")), c = only_run(dir.file("c"));
  auto metrics_b = read_metrics(b), metrics_c = read_metrics(c);
  ASSERT_EQ(metrics_b.size(), 2u);
  ASSERT_EQ(metrics_c.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_NEAR(metrics_b[i]["train_loss"].get<double>(), metrics_c[i]["train_loss"].get<double>(), 1e-5);
    EXPECT_NEAR(metrics_b[i]["val_loss"].get<double>(), metrics_c[i]["val_loss"].get<double>(), 1e-5);
  }

  // The backbone kept A's weights; the head trained.
  auto model_tensor = [](const fs::path& run, const std::string& module, const std::string& name) {
    torch::serialize::InputArchive archive, model, child;
    archive.load_from((run / "checkpoints" / "last.pt").string());
    archive.read("model", model);
    model.read(module, child);
    torch::Tensor tensor;
    child.read(name, tensor);
    return tensor;
  };
  EXPECT_TRUE(torch::equal(model_tensor(a, "conv1", "weight"), model_tensor(b, "conv1", "weight")));
  EXPECT_TRUE(torch::equal(model_tensor(a, "conv3", "bias"), model_tensor(b, "conv3", "bias")));
  EXPECT_FALSE(torch::equal(model_tensor(a, "fc2", "weight"), model_tensor(b, "fc2", "weight")));
}
