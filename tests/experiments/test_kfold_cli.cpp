// `cerebra kfold` with tiny runs through the real command: one run per fold,
// a summary whose figures are recomputed here from the folds' own files, a
// second call that skips finished folds and resumes a stopped one, compare
// and runs list reading the result.
#include <filesystem>
#include <map>
#include <set>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cerebra/files.h"
#include "run_support.h"
#include "test_support.h"

using namespace cerebra::testing;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

CommandResult kfold(const TempDir& dir, const std::string& options) {
  return run_command(cli() + " kfold " + dir.file("p.toml") + " --set run.output=" + dir.file("runs") + " " + options);
}

// fold folder -> its last modification time, for "nothing was rewritten".
std::map<std::string, fs::file_time_type> fold_times(const fs::path& parent) {
  std::map<std::string, fs::file_time_type> times;
  for (const auto& run : run_folders(parent)) {
    if (fs::is_directory(run)) times[run.filename().string()] = fs::last_write_time(run / "summary.json");
  }
  return times;
}

}  // namespace

TEST(KFoldCli, FoldsPartitionTheDataAndTheSummaryIsTheirSpread) {
  ScopedEnv no_store("CEREBRA_STORE", std::nullopt);
  TempDir dir;
  write_text(dir.file("p.toml"), tiny_pipeline(1));
  const CommandResult result = kfold(dir, "--folds 3");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const fs::path parent = dir.path() / "runs" / "tiny-kfold3";
  ASSERT_TRUE(fs::exists(parent / "kfold_summary.json")) << result.output;
  EXPECT_TRUE(has(result.output, "95% interval (t)")) << result.output;

  // Every image is tested in exactly one fold, never trained on in that fold.
  std::map<std::string, int> tested;
  std::vector<double> accuracy;
  std::vector<std::string> folds;
  for (const auto& run : run_folders(parent)) {
    if (!fs::is_directory(run)) continue;
    folds.push_back(run.filename().string());
    for (const auto& line : cerebra::parse_csv(read_text(run / "split.csv"))) {
      if (line.size() > 2 && line[2] == "test") ++tested[line[0]];
    }
    accuracy.push_back(read_json(run / "summary.json")["test"]["metrics"]["accuracy"]["value"]);
  }
  ASSERT_EQ(folds.size(), 3u);
  EXPECT_EQ(folds[0].rfind("fold-1-", 0), 0u);
  EXPECT_EQ(tested.size(), 160u);
  for (const auto& [file, times] : tested) EXPECT_EQ(times, 1) << file;

  // Mean, sample sd and the t interval, computed here from the folds' summaries.
  const double mean = (accuracy[0] + accuracy[1] + accuracy[2]) / 3;
  double squares = 0;
  for (double a : accuracy) squares += (a - mean) * (a - mean);
  const double sd = std::sqrt(squares / 2);
  const double half = 4.302652730 * sd / std::sqrt(3.0);  // t_{0.975, 2}
  const json summary = read_json(parent / "kfold_summary.json");
  const json& m = summary["metrics"]["test.accuracy"];
  EXPECT_EQ(m["n"], 3);
  EXPECT_NEAR(m["mean"].get<double>(), mean, 1e-12);
  EXPECT_NEAR(m["sd"].get<double>(), sd, 1e-12);
  EXPECT_NEAR(m["ci95"][0].get<double>(), mean - half, 1e-7);
  EXPECT_NEAR(m["ci95"][1].get<double>(), mean + half, 1e-7);
  EXPECT_TRUE(summary["metrics"].contains("test.recall.yes")) << summary.dump();
  EXPECT_TRUE(fs::exists(parent / "kfold_summary.txt"));

  // The store beside the parent has every fold, tagged with the parent.
  const auto listed = run_command(cli() + " runs list --where tag=kfold:tiny-kfold3 --json --store " +
                                  (dir.path() / "runs" / ".cerebra" / "store.db").string());
  ASSERT_EQ(listed.exit_code, 0) << listed.output;
  EXPECT_EQ(json::parse(listed.output).size(), 3u) << listed.output;
}

TEST(KFoldCli, SecondCallSkipsFinishedFoldsAndResumesAStoppedOne) {
  ScopedEnv no_store("CEREBRA_STORE", std::nullopt);
  TempDir dir;
  write_text(dir.file("p.toml"), tiny_pipeline(1));
  ASSERT_EQ(kfold(dir, "--folds 2").exit_code, 0);
  const fs::path parent = dir.path() / "runs" / "tiny-kfold2";
  const auto before = fold_times(parent);
  ASSERT_EQ(before.size(), 2u);

  auto again = kfold(dir, "--folds 2");
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_TRUE(has(again.output, "folds trained now: 0, found finished: 2")) << again.output;
  EXPECT_EQ(fold_times(parent), before);

  // A fold stopped after its checkpoint (no summary yet) resumes in its own folder.
  const fs::path second = run_folders(parent)[1];
  fs::remove(second / "summary.json");
  again = kfold(dir, "--folds 2");
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_TRUE(has(again.output, "resuming " + second.string())) << again.output;
  EXPECT_TRUE(has(again.output, "folds trained now: 1, found finished: 1")) << again.output;
  EXPECT_TRUE(fs::exists(second / "summary.json"));
  EXPECT_EQ(fold_times(parent).size(), 2u);

  // Another number of folds into the same parent is refused.
  const auto other = run_command(cli() + " kfold " + dir.file("p.toml") + " --folds 3 --out " + parent.string() +
                                 " --set run.output=" + dir.file("runs"));
  EXPECT_EQ(other.exit_code, 1) << other.output;
  EXPECT_TRUE(has(other.output, "this k-fold has 2 folds, not 3")) << other.output;
}

TEST(KFoldCli, CompareTestsTwoParentsFoldByFold) {
  ScopedEnv no_store("CEREBRA_STORE", std::nullopt);
  TempDir dir;
  write_text(dir.file("p.toml"), tiny_pipeline(1));
  ASSERT_EQ(kfold(dir, "--folds 2 --out " + dir.file("a")).exit_code, 0);
  ASSERT_EQ(kfold(dir, "--folds 2 --out " + dir.file("b") + " --set optimizer.type=adam --set optimizer.learning_rate=0.01").exit_code, 0);
  const auto compared = run_command(cli() + " compare " + dir.file("a") + " " + dir.file("b") + " --json");
  ASSERT_EQ(compared.exit_code, 0) << compared.output;
  const json out = json::parse(compared.output);
  ASSERT_EQ(out["paired_tests"].size(), 1u);
  EXPECT_EQ(out["paired_tests"][0]["paired_folds"], 2);
  bool accuracy_tested = false;
  for (const auto& t : out["paired_tests"][0]["tests"]) accuracy_tested |= t["metric"] == "test.accuracy";
  EXPECT_TRUE(accuracy_tested) << compared.output;
  const auto table = run_command(cli() + " compare " + dir.file("a") + " " + dir.file("b"));
  EXPECT_TRUE(has(table.output, "paired over 2 fold(s)")) << table.output;

  // report PARENT: the folds side by side, in PARENT/report.html by default.
  const auto report = run_command(cli() + " report " + dir.file("a"));
  ASSERT_EQ(report.exit_code, 0) << report.output;
  const std::string page = read_text(dir.path() / "a" / "report.html");
  int folds = 0;
  for (const auto& fold : run_folders(dir.file("a"))) {
    if (!fs::is_directory(fold)) continue;
    ++folds;
    EXPECT_TRUE(has(page, fold.filename().string())) << fold;
  }
  EXPECT_EQ(folds, 2);
}

TEST(KFoldCli, BadOptionsAreUsageErrors) {
  TempDir dir;
  write_text(dir.file("p.toml"), tiny_pipeline(1));
  auto result = kfold(dir, "--folds 1");
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_TRUE(has(result.output, "--folds must be at least 2, got 1")) << result.output;
  result = kfold(dir, "--repeats 0");
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_TRUE(has(result.output, "--repeats must be at least 1")) << result.output;
  result = run_command(cli() + " kfold " + dir.file("missing.toml"));
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_TRUE(has(result.output, "missing.toml")) << result.output;
}
