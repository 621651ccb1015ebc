// `cerebra sweep` with tiny runs through the real command: a 2 x 2 grid with
// successive halving (eta 2, rungs at 1 and 2 epochs), the pruned trials'
// epochs, a second call that trains nothing, best.toml that `cerebra run`
// takes as it is, and errors for bad [sweep] tables.
#include <filesystem>
#include <map>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "run_support.h"
#include "test_support.h"

using namespace cerebra::testing;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

const char* kGrid = R"(
[sweep]
metric = "val_accuracy"
goal = "max"
eta = 2
min_epochs = 1
[sweep.parameters]
"optimizer.learning_rate" = [0.001, 0.5]
"model.dropout" = [0.1, 0.5]
)";

CommandResult sweep(const TempDir& dir) {
  return run_command(cli() + " sweep " + dir.file("p.toml") + " --set run.output=" + dir.file("runs"));
}

}  // namespace

TEST(SweepCli, SuccessiveHalvingPrunesTheWorstAndWritesARunnableBest) {
  ScopedEnv no_store("CEREBRA_STORE", std::nullopt);
  TempDir dir;
  write_text(dir.file("p.toml"), tiny_pipeline(2) + kGrid);
  const CommandResult result = sweep(dir);
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const fs::path folder = dir.path() / "runs" / "tiny-sweep";
  const json results = read_json(folder / "sweep_results.json");
  ASSERT_EQ(results["trials"].size(), 4u);  // every combination of the grid
  EXPECT_EQ(results["rungs"], json({1, 2}));

  // Two trials pruned after one epoch, each no better at that rung than the two kept.
  double worst_kept = 1e9, best_pruned = -1e9;
  int pruned = 0;
  std::map<std::string, int> combinations;
  for (const auto& t : results["trials"]) {
    ++combinations[t["parameters"].dump()];
    const double first_rung = t["values"][0];
    if (t["status"] == "pruned") {
      ++pruned;
      EXPECT_EQ(t["epochs"], 1) << t.dump();
      EXPECT_EQ(read_metrics(t["run"].get<std::string>()).size(), 1u);
      best_pruned = std::max(best_pruned, first_rung);
    } else {
      EXPECT_EQ(t["status"], "completed") << t.dump();
      EXPECT_EQ(t["epochs"], 2) << t.dump();
      worst_kept = std::min(worst_kept, first_rung);
    }
  }
  EXPECT_EQ(pruned, 2);
  EXPECT_EQ(combinations.size(), 4u);
  EXPECT_LE(best_pruned, worst_kept);
  EXPECT_EQ(results["trials"][0]["rank"], 1);
  EXPECT_NE(results["trials"][0]["status"], "pruned");
  EXPECT_TRUE(has(read_text(folder / "sweep_results.txt"), "pruned"));

  // A second call finds everything done: nothing trains, nothing is rewritten.
  const auto summary_time = fs::last_write_time(fs::path(results["trials"][0]["run"].get<std::string>()) / "summary.json");
  const CommandResult again = sweep(dir);
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_FALSE(has(again.output, "training to")) << again.output;
  EXPECT_FALSE(has(again.output, "continuing")) << again.output;
  EXPECT_EQ(fs::last_write_time(fs::path(results["trials"][0]["run"].get<std::string>()) / "summary.json"), summary_time);

  // best.toml: no [sweep], the best trial's values, and it runs as it is.
  const std::string best = read_text(folder / "best.toml");
  EXPECT_FALSE(has(best, "[sweep")) << best;
  const json& winner = results["trials"][0]["parameters"];
  EXPECT_TRUE(has(best, "dropout = " + winner["model.dropout"].dump())) << best;
  const auto ran = run_command(cli() + " run " + (folder / "best.toml").string() + " --set run.output=" +
                               dir.file("best-runs"));
  EXPECT_EQ(ran.exit_code, 0) << ran.output;
  EXPECT_EQ(run_folders(dir.file("best-runs")).size(), 1u);

  // Every trial is in the store beside the sweep's folder; the pruned ones say so.
  const std::string store = " --store " + (dir.path() / "runs" / ".cerebra" / "store.db").string();
  auto listed = run_command(cli() + " runs list --where tag=sweep:tiny-sweep --json" + store);
  ASSERT_EQ(listed.exit_code, 0) << listed.output;
  EXPECT_EQ(json::parse(listed.output).size(), 4u);
  listed = run_command(cli() + " runs list --where tag=pruned --json" + store);
  EXPECT_EQ(json::parse(listed.output).size(), 2u) << listed.output;
}

TEST(SweepCli, BadSweepTablesNameTheFileAndTheProblem) {
  TempDir dir;
  write_text(dir.file("p.toml"), tiny_pipeline(2) + "[sweep]\nbudget = \"x\"\n[sweep.parameters]\n\"model.dropout\" = []\n");
  auto result = sweep(dir);
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_TRUE(has(result.output, dir.file("p.toml") + ":")) << result.output;
  EXPECT_TRUE(has(result.output, "[sweep] budget must be an integer, found string")) << result.output;
  EXPECT_TRUE(has(result.output, "'model.dropout': empty list of values")) << result.output;

  // A swept key the pipeline does not have: the pipeline's own error, at its place in [sweep].
  write_text(dir.file("p.toml"), tiny_pipeline(2) + "[sweep]\n[sweep.parameters]\n\"optimizer.learnig_rate\" = [0.1]\n");
  result = sweep(dir);
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_TRUE(has(result.output, "learnig_rate")) << result.output;
  EXPECT_TRUE(has(result.output, "p.toml:")) << result.output;
  EXPECT_FALSE(fs::exists(dir.path() / "runs")) << "nothing trains before every trial is valid";

  write_text(dir.file("p.toml"), tiny_pipeline(2));
  result = sweep(dir);
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_TRUE(has(result.output, "no [sweep] table")) << result.output;
}
