// The run store through the real `cerebra` command: tiny training runs index
// themselves, the runs verbs and the sqlite3 client read the store, and
// predict, eval and explain take models:/ references from the registry.
#include <algorithm>
#include <filesystem>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "run_support.h"
#include "store_test_support.h"
#include "test_support.h"

using cerebra::testing::cli;
using cerebra::testing::contains;
using cerebra::testing::sqlite3_query;
using cerebra::testing::CommandResult;
using cerebra::testing::only_run;
using cerebra::testing::run_command;
using cerebra::testing::run_folders;
using cerebra::testing::ScopedEnv;
using cerebra::testing::TempDir;
using cerebra::testing::tiny_pipeline;
using cerebra::testing::write_text;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string quoted(const std::string& text) { return "'" + text + "'"; }

// Trains the tiny pipeline into `output` with the given overrides; the run's folder.
fs::path train(const TempDir& dir, const std::string& output, const std::string& overrides) {
  write_text(dir.file("p.toml"), tiny_pipeline(2));
  std::error_code error;
  const auto before = fs::exists(dir.file(output), error) ? run_folders(dir.file(output)) : std::vector<fs::path>{};
  const CommandResult result =
      run_command(cli() + " run " + dir.file("p.toml") + " --set run.output=" + dir.file(output) + " " + overrides);
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_TRUE(contains(result.output, "store: indexed in ")) << result.output;
  for (const auto& run : run_folders(dir.file(output))) {
    if (std::find(before.begin(), before.end(), run) == before.end()) return run;
  }
  return {};
}

}  // namespace

TEST(StoreCli, TrainingIndexesItselfAndTheRunsVerbsReadTheStore) {
  ScopedEnv no_store("CEREBRA_STORE", std::nullopt);
  TempDir dir;
  const fs::path two = train(dir, "runs", "--set run.name=two");
  const fs::path one = train(dir, "runs", "--set run.name=one --set training.epochs=1");
  ASSERT_FALSE(two.empty());
  ASSERT_FALSE(one.empty());
  // The default store: hidden beside the runs, so the output folder still holds runs only.
  const fs::path store = dir.path() / "runs" / ".cerebra" / "store.db";
  ASSERT_TRUE(fs::exists(store));
  EXPECT_EQ(run_folders(dir.file("runs")).size(), 2u);

  // The sqlite3 client reads what training wrote.
  EXPECT_EQ(sqlite3_query(store, "SELECT name, status, epochs_completed FROM runs ORDER BY name"),
            one.filename().string() + "|completed|1\n" + two.filename().string() + "|completed|2");
  EXPECT_EQ(sqlite3_query(store, "SELECT COUNT(*) FROM epoch_metrics WHERE key = 'train_loss'"), "3");
  EXPECT_EQ(sqlite3_query(store, "SELECT DISTINCT value FROM params WHERE key = 'model'"), "cnn");
  EXPECT_EQ(sqlite3_query(store, "SELECT COUNT(*) FROM metrics WHERE key = 'test.accuracy' AND value BETWEEN 0 AND 1"), "2");
  EXPECT_FALSE(sqlite3_query(store, "SELECT code_version FROM runs LIMIT 1").empty());

  const std::string with_store = " --store " + quoted(store.string());
  auto listed = run_command(cli() + " runs list --json" + with_store);
  ASSERT_EQ(listed.exit_code, 0) << listed.output;
  EXPECT_EQ(json::parse(listed.output).size(), 2u);
  listed = run_command(cli() + " runs list --where \"training.epochs=1 and model=cnn and test.accuracy>=0\" --json" + with_store);
  ASSERT_EQ(listed.exit_code, 0) << listed.output;
  ASSERT_EQ(json::parse(listed.output).size(), 1u);
  EXPECT_EQ(json::parse(listed.output)[0]["path"], fs::weakly_canonical(one).string());
  const auto injected = run_command(cli() + " runs list --where \"model=x' or 1=1 --\"" + with_store);
  EXPECT_EQ(injected.exit_code, 2) << injected.output;
  EXPECT_TRUE(contains(injected.output, "term 'model=x' or 1=1 --'")) << injected.output;
  EXPECT_EQ(sqlite3_query(store, "SELECT COUNT(*) FROM runs"), "2");

  const auto shown = run_command(cli() + " runs show " + one.filename().string() + with_store);
  ASSERT_EQ(shown.exit_code, 0) << shown.output;
  EXPECT_TRUE(contains(shown.output, "training.epochs")) << shown.output;
  EXPECT_TRUE(contains(shown.output, "train_loss")) << shown.output;
  const auto compared = run_command(cli() + " runs compare " + one.string() + " " + two.string() + with_store);
  ASSERT_EQ(compared.exit_code, 0) << compared.output;
  EXPECT_TRUE(contains(compared.output, "Parameters that differ:")) << compared.output;
  EXPECT_TRUE(contains(compared.output, "training.epochs")) << compared.output;
  EXPECT_TRUE(contains(compared.output, "run.name")) << compared.output;
  EXPECT_FALSE(contains(compared.output, "optimizer.learning_rate")) << compared.output;  // the same in both
  EXPECT_TRUE(contains(compared.output, "test.accuracy")) << compared.output;

  EXPECT_EQ(run_command(cli() + " runs tag " + one.string() + " best paper" + with_store).exit_code, 0);
  EXPECT_EQ(run_command(cli() + " runs untag " + one.string() + " paper" + with_store).exit_code, 0);
  listed = run_command(cli() + " runs list --where tag=best --json" + with_store);
  ASSERT_EQ(json::parse(listed.output).size(), 1u) << listed.output;
  EXPECT_EQ(json::parse(listed.output)[0]["tags"], json::array({"best"}));

  // The store deleted: `runs index` rebuilds it from the folders, into the default place.
  fs::remove_all(store.parent_path());
  const auto indexed = run_command(cli() + " runs index " + dir.file("runs"));
  ASSERT_EQ(indexed.exit_code, 0) << indexed.output;
  EXPECT_TRUE(contains(indexed.output, "indexed 2 run(s)")) << indexed.output;
  EXPECT_EQ(sqlite3_query(store, "SELECT COUNT(*) FROM runs WHERE status = 'completed'"), "2");

  // A folder deleted: gc says which run it dropped.
  fs::remove_all(two);
  const auto collected = run_command(cli() + " runs gc" + with_store);
  ASSERT_EQ(collected.exit_code, 0) << collected.output;
  EXPECT_TRUE(contains(collected.output, "dropped " + fs::weakly_canonical(dir.path()).string() + "/runs/" +
                                             two.filename().string())) << collected.output;
  EXPECT_EQ(sqlite3_query(store, "SELECT COUNT(*) FROM runs"), "1");

  // Bad stores and bad commands.
  write_text(dir.file("junk.db"), std::string(2048, 'j'));
  const auto junk = run_command(cli() + " runs list --store " + dir.file("junk.db"));
  EXPECT_EQ(junk.exit_code, 1);
  EXPECT_TRUE(contains(junk.output, dir.file("junk.db") + ": not an SQLite database")) << junk.output;
  const auto missing = run_command(cli() + " runs list --store " + dir.file("none.db"));
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_TRUE(contains(missing.output, dir.file("none.db") + ": no run store here")) << missing.output;
  EXPECT_EQ(run_command(cli() + " runs index " + dir.file("nowhere") + with_store).exit_code, 1);
  const auto unknown = run_command(cli() + " runs frobnicate");
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_TRUE(contains(unknown.output, "one of: list, show, compare, tag, untag, index, gc")) << unknown.output;
  const auto group_help = run_command(cli() + " models --help");
  EXPECT_EQ(group_help.exit_code, 0);
  EXPECT_TRUE(contains(group_help.output, "one of: register, stage, list, show")) << group_help.output;
}

TEST(StoreCli, PredictEvalAndExplainTakeModelReferences) {
  ScopedEnv no_store("CEREBRA_STORE", std::nullopt);
  TempDir dir;
  const fs::path run = train(dir, "runs", "");
  ASSERT_FALSE(run.empty());
  const std::string store = (dir.path() / "runs" / ".cerebra" / "store.db").string();
  const std::string with_store = " --store " + quoted(store);

  auto registered = run_command(cli() + " models register " + run.string() + " --name tiny-detector" + with_store);
  ASSERT_EQ(registered.exit_code, 0) << registered.output;
  EXPECT_TRUE(contains(registered.output, "tiny-detector version 1 (models:/tiny-detector/1)")) << registered.output;
  registered = run_command(cli() + " models register " + run.filename().string() + " --name tiny-detector" + with_store);
  EXPECT_TRUE(contains(registered.output, "version 2")) << registered.output;
  const auto staged = run_command(cli() + " models stage tiny-detector 1 production" + with_store);
  ASSERT_EQ(staged.exit_code, 0) << staged.output;
  EXPECT_TRUE(contains(staged.output, "tiny-detector version 1: none -> production")) << staged.output;
  EXPECT_EQ(run_command(cli() + " models stage tiny-detector one production" + with_store).exit_code, 2);
  const auto shown = run_command(cli() + " models show tiny-detector --json" + with_store);
  ASSERT_EQ(shown.exit_code, 0) << shown.output;
  const json model = json::parse(shown.output);
  EXPECT_EQ(model["versions"].size(), 2u);
  ASSERT_EQ(model["history"].size(), 1u);
  EXPECT_EQ(model["history"][0]["from"], "none");
  EXPECT_EQ(model["history"][0]["to"], "production");
  const auto listed = run_command(cli() + " models list" + with_store);
  EXPECT_TRUE(contains(listed.output, "production")) << listed.output;
  EXPECT_EQ(sqlite3_query(store, "SELECT name, version, stage FROM model_versions ORDER BY version"),
            "tiny-detector|1|production\ntiny-detector|2|none");

  const fs::path image = dir.path() / "images" / "scan.png";
  fs::create_directories(image.parent_path());
  ASSERT_TRUE(cv::imwrite(image.string(), cv::Mat(40, 40, CV_8UC3, cv::Scalar(90, 90, 90))));
  const std::string env = "CEREBRA_STORE=" + quoted(store) + " ";
  const std::string canonical = fs::weakly_canonical(run).string();

  const auto predicted = run_command(env + cli() + " predict models:/tiny-detector/production " + image.string() +
                                     " --json 2>/dev/null");
  ASSERT_EQ(predicted.exit_code, 0) << predicted.output;
  EXPECT_EQ(json::parse(predicted.output)["run"], canonical);
  const auto evaluated = run_command(env + cli() + " eval models:/tiny-detector/1 --json 2>/dev/null");
  ASSERT_EQ(evaluated.exit_code, 0) << evaluated.output;
  EXPECT_EQ(json::parse(evaluated.output)["run"], canonical);
  const auto explained = run_command(env + cli() + " explain models:/tiny-detector/production " + image.string() +
                                     " --out " + dir.file("cams") + " --json 2>/dev/null");
  ASSERT_EQ(explained.exit_code, 0) << explained.output;
  EXPECT_TRUE(fs::exists(dir.path() / "cams" / "cams.jsonl"));

  // What does not exist is named, with what does.
  auto missing = run_command(env + cli() + " predict models:/tiny-detector/archived " + image.string());
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_TRUE(contains(missing.output, "no version of 'tiny-detector' is in archived; its versions: 1 (production), 2 (none)"))
      << missing.output;
  missing = run_command(env + cli() + " eval models:/tiny-detector/7");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_TRUE(contains(missing.output, "has no version 7")) << missing.output;
  missing = run_command(env + cli() + " explain models:/tiny/1 " + image.string());
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_TRUE(contains(missing.output, "no model named 'tiny'")) << missing.output;
  EXPECT_TRUE(contains(missing.output, "registered: tiny-detector")) << missing.output;
  missing = run_command("CEREBRA_STORE=" + dir.file("absent.db") + " " + cli() + " predict models:/tiny-detector/1 " +
                        image.string());
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_TRUE(contains(missing.output, dir.file("absent.db") + ": no run store here")) << missing.output;
}

TEST(StoreCli, AStoreThatCannotBeWrittenIsAWarningNotAFailedRun) {
  TempDir dir;
  write_text(dir.file("junk.db"), std::string(2048, 'j'));
  ScopedEnv junk("CEREBRA_STORE", dir.file("junk.db"));
  write_text(dir.file("p.toml"), tiny_pipeline(1));
  const auto result = run_command(cli() + " run " + dir.file("p.toml") + " --set run.output=" + dir.file("runs"));
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_TRUE(contains(result.output, "store: warning: the run is not indexed (" + dir.file("junk.db") +
                                          ": not an SQLite database")) << result.output;
  EXPECT_TRUE(fs::exists(only_run(dir.file("runs")) / "summary.json"));
}
