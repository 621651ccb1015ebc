// `cerebra report` on good and bad input: each problem named with its file,
// and nothing already written lost.
#include <gtest/gtest.h>

#include <sstream>

#include "report_test_support.h"

namespace fs = std::filesystem;
using namespace cerebra::testing;

namespace {

bool contains(const std::string& text, const std::string& what) { return text.find(what) != std::string::npos; }

}  // namespace

TEST(ReportCli, WritesTheRunsReportAndPrintsItsPath) {
  TempDir dir;
  const fs::path run = tiny_run(dir, "a", 1);
  fs::remove(run / "report.html");
  auto result = run_command(cli() + " report " + run.string() + " 2>/dev/null");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(result.output, (run / "report.html").string() + "\n");
  const std::string html = read_text(run / "report.html");
  EXPECT_TRUE(contains(html, "<section id=\"confusion\">"));
  // --out elsewhere leaves the run's own report alone.
  auto elsewhere = run_command(cli() + " report " + run.string() + " --out " + dir.file("x/r.html"));
  EXPECT_EQ(elsewhere.exit_code, 1) << "a missing folder is not created: " << elsewhere.output;
  EXPECT_TRUE(contains(elsewhere.output, dir.file("x/r.html"))) << elsewhere.output;
  EXPECT_EQ(run_command(cli() + " report " + run.string() + " --out " + dir.file("r.html")).exit_code, 0);
  EXPECT_EQ(read_text(dir.file("r.html")), html);
}

TEST(ReportCli, AMissingRunOrSummaryIsNamedAndNothingIsOverwritten) {
  TempDir dir;
  write_text(dir.file("earlier.html"), "earlier report");
  auto missing = run_command(cli() + " report " + dir.file("nope") + " --out " + dir.file("earlier.html"));
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_TRUE(contains(missing.output, dir.file("nope") + ": no such run directory")) << missing.output;

  write_text(dir.file("unfinished/pipeline.toml"), "[run]\n");
  auto unfinished = run_command(cli() + " report " + dir.file("unfinished") + " --out " + dir.file("earlier.html"));
  EXPECT_EQ(unfinished.exit_code, 1);
  EXPECT_TRUE(contains(unfinished.output, dir.file("unfinished/summary.json") + ": no summary")) << unfinished.output;
  EXPECT_EQ(read_text(dir.file("earlier.html")), "earlier report");

  auto two = run_command(cli() + " report " + dir.file("a") + " " + dir.file("b"));
  EXPECT_EQ(two.exit_code, 2);
  EXPECT_TRUE(contains(two.output, "several runs need --out")) << two.output;
}

TEST(ReportCli, ACorruptMetricsLineIsNamedAndTheRestIsStillReported) {
  TempDir dir;
  const fs::path run = tiny_run(dir, "a", 2);
  const std::string metrics = read_text(run / "metrics.jsonl");
  write_text((run / "metrics.jsonl").string(), metrics + "{\"epoch\": 3, \"train_loss\n");
  auto result = run_command(cli() + " report " + run.string());
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_TRUE(contains(result.output, (run / "metrics.jsonl").string() + ":3: not valid JSON")) << result.output;
  EXPECT_TRUE(contains(result.output, "written without the part(s) named above")) << result.output;
  const std::string html = read_text(run / "report.html");
  EXPECT_TRUE(contains(html, "metrics.jsonl:3: not valid JSON")) << "the curves section says why it is empty";
  EXPECT_TRUE(contains(html, "<section id=\"confusion\">"));
  EXPECT_TRUE(contains(html, "<canvas id=\"roc-chart\""));
  EXPECT_EQ(read_text(run / "metrics.jsonl"), metrics + "{\"epoch\": 3, \"train_loss\n") << "the input is untouched";
}

TEST(ReportCli, AnUnwritableOutputKeepsTheEarlierFile) {
  TempDir dir;
  const fs::path run = tiny_run(dir, "a", 1);
  const std::string before = read_text(run / "report.html");
  ASSERT_FALSE(before.empty());
  // A path under a regular file cannot be written, even by root.
  write_text(dir.file("file"), "x");
  auto result = run_command(cli() + " report " + run.string() + " --out " + dir.file("file/report.html"));
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_TRUE(contains(result.output, dir.file("file/report.html"))) << result.output;
  EXPECT_EQ(read_text(run / "report.html"), before);
}

TEST(ReportCli, AReportThatCannotBeWrittenDoesNotFailTheRun) {
  TempDir dir;
  const fs::path run = tiny_run(dir, "a", 1);
  // A folder where report.html goes: the rename onto it fails at the run's end.
  fs::remove(run / "report.html");
  fs::create_directories(run / "report.html" / "blocker");
  auto resumed = run_command(cli() + " run --resume " + run.string());
  EXPECT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_TRUE(contains(resumed.output, "report: not written (" + (run / "report.html").string()))
      << resumed.output;
  EXPECT_TRUE(contains(resumed.output, "Write it later with: cerebra report " + run.string())) << resumed.output;
  EXPECT_TRUE(contains(read_text(run / "summary.json"), "\"status\": \"completed\""));
}

TEST(ReportCli, DuplicateGroupsOfSplitCsvAreListed) {
  TempDir dir;
  const fs::path run = tiny_run(dir, "a", 1);
  // split.csv's fourth column names each file's duplicate group: two files made one group here.
  std::istringstream rows(read_text(run / "split.csv"));
  std::string text, line;
  for (int i = 0; std::getline(rows, line); ++i) {
    if (i == 0) ASSERT_EQ(line.substr(line.rfind(',') + 1), "group");
    line = line.substr(0, line.rfind(','));
    text += line + (i == 0 ? ",group" : i <= 2 ? ",same-bytes" : ",g" + std::to_string(i)) + "\n";
  }
  write_text((run / "split.csv").string(), text);
  auto result = run_command(cli() + " report " + run.string());
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const std::string html = read_text(run / "report.html");
  EXPECT_TRUE(contains(html, "Duplicate groups (split.csv&#39;s group column)")) << html.substr(0, 200);
  EXPECT_TRUE(contains(html, "<td>same-bytes</td>"));
  // A group of one file is not a duplicate.
  EXPECT_FALSE(contains(html, "<td>g3</td>"));
}
