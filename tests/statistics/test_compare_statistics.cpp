// `cerebra compare` with statistics on real tiny runs: two seeds on the same
// split are tested against each other (McNemar, bootstrap interval, the
// figures read back from the runs' predictions), a run on another split is
// named and not tested.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "run_support.h"
#include "test_support.h"

namespace fs = std::filesystem;
using cerebra::testing::cli;
using cerebra::testing::first_run;
using cerebra::testing::read_text;
using cerebra::testing::run_command;
using cerebra::testing::TempDir;
using cerebra::testing::write_text;

namespace {

// file -> classified correctly, from a run's eval/predictions_test.csv (no quoted fields in synthetic ids).
std::map<std::string, bool> outcomes_of(const fs::path& run) {
  std::map<std::string, bool> outcomes;
  std::istringstream in(read_text(run / "eval" / "predictions_test.csv"));
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::vector<std::string> fields(1);
    for (char c : line) {
      if (c == ',') fields.emplace_back(); else fields.back() += c;
    }
    outcomes[fields.at(0)] = fields.at(1) == fields.at(2);
  }
  return outcomes;
}

fs::path train(const TempDir& dir, const std::string& output, const std::string& options) {
  auto result = run_command(cli() + " run " + dir.file("tiny.toml") + " --set run.output=" + dir.file(output) + " " +
                            options);
  EXPECT_EQ(result.exit_code, 0) << result.output;
  return result.exit_code == 0 ? first_run(dir.file(output)) : fs::path();
}

TEST(StatisticsCompare, SameSplitIsTestedAndAnotherSplitIsNamed) {
  TempDir dir;
  // Ten epochs: fewer leave both runs predicting one class, so that b = c = 0.
  write_text(dir.file("tiny.toml"), cerebra::testing::tiny_pipeline(10));
  // A and B: other training seeds, the same split (split.seed held at 42); C: another split.
  const fs::path a = train(dir, "a", "--set run.seed=3 --set split.seed=42");
  const fs::path b = train(dir, "b", "--set run.seed=4 --set split.seed=42");
  const fs::path c = train(dir, "c", "--set run.seed=5 --set split.seed=5 --set training.epochs=1");
  ASSERT_FALSE(a.empty() || b.empty() || c.empty());

  // The expected figures, worked out here from the two prediction files.
  const auto outcomes_a = outcomes_of(a), outcomes_b = outcomes_of(b);
  ASSERT_EQ(outcomes_a.size(), outcomes_b.size());
  long only_a = 0, only_b = 0;
  for (const auto& [file, correct] : outcomes_a) {
    ASSERT_EQ(outcomes_b.count(file), 1u) << file;
    only_a += correct && !outcomes_b.at(file);
    only_b += !correct && outcomes_b.at(file);
  }
  // The runs disagree on some images (b = 1, c = 2 on this machine), so the figures below are not all zero.
  EXPECT_GT(only_a + only_b, 0);
  const double n = static_cast<double>(outcomes_a.size());
  // McNemar's exact p summed here, not by the library under test: test sets this small fit in doubles.
  double tail = 0, term = std::pow(0.5, only_a + only_b);  // C(n, 0) / 2^n
  for (long k = 0; k <= std::min(only_a, only_b); ++k) {
    tail += term;
    term = term * (only_a + only_b - k) / (k + 1);
  }
  const double p = std::min(1.0, 2 * tail);

  auto markdown = run_command(cli() + " compare " + a.string() + " " + b.string() + " --markdown");
  ASSERT_EQ(markdown.exit_code, 0) << markdown.output;
  const std::string row_start = fmt::format("| CNN | {} | {} | {} | {} | ", b.string(), outcomes_a.size(), only_a, only_b);
  const auto row = markdown.output.find(row_start);
  ASSERT_NE(row, std::string::npos) << row_start << "\n" << markdown.output;
  const std::string row_text = markdown.output.substr(row, markdown.output.find('\n', row) - row);
  const std::string p_text = p < 0.0001 ? "<0.0001" : fmt::format("{:.4f}", p);
  EXPECT_NE(row_text.find("| " + p_text + " | " + fmt::format("{:+.4f}", (only_b - only_a) / n)), std::string::npos)
      << row_text;
  EXPECT_NE(row_text.find("| ["), std::string::npos) << row_text;  // the interval
  EXPECT_NE(markdown.output.find("| Model | Run | Images | b | c | McNemar p | Accuracy difference | 95% interval |"),
            std::string::npos)
      << markdown.output;
  EXPECT_NE(markdown.output.find("paired bootstrap"), std::string::npos) << markdown.output;
  // Not significant: marked in both tables, with the line that explains the mark.
  const bool marked = p >= 0.05;
  EXPECT_EQ(row_text.find("†") != std::string::npos, marked) << row_text;
  EXPECT_EQ(markdown.output.find("† not significant at 0.05") != std::string::npos, marked) << markdown.output;

  // JSON: b, c, p, the difference and its interval, which covers the difference.
  auto json = run_command(cli() + " compare " + a.string() + " " + b.string() + " --json 2>/dev/null");
  ASSERT_EQ(json.exit_code, 0) << json.output;
  const auto document = nlohmann::json::parse(json.output);
  const auto& test = document["paired_tests"]["comparisons"].at(0);
  EXPECT_EQ(test["b"], only_a);
  EXPECT_EQ(test["c"], only_b);
  EXPECT_NEAR(test["mcnemar_p"].get<double>(), p, 1e-12);
  EXPECT_NEAR(test["difference"].get<double>(), (only_b - only_a) / n, 1e-12);
  EXPECT_LE(test["interval"][0].get<double>(), test["difference"].get<double>());
  EXPECT_GE(test["interval"][1].get<double>(), test["difference"].get<double>());
  EXPECT_EQ(document["runs"].size(), 2u);

  // Another split: named plainly, no figures for it; A against B is still tested.
  auto three = run_command(cli() + " compare " + a.string() + " " + b.string() + " " + c.string() + " --markdown");
  ASSERT_EQ(three.exit_code, 0) << three.output;
  EXPECT_NE(three.output.find(c.string() + "): not tested against the first run: test sets differ ("),
            std::string::npos)
      << three.output;
  EXPECT_NE(three.output.find(row_start), std::string::npos) << three.output;
  EXPECT_EQ(three.output.find("| CNN | " + c.string() + " | "), std::string::npos) << three.output;

  // The default table says the same.
  auto table = run_command(cli() + " compare " + a.string() + " " + c.string());
  ASSERT_EQ(table.exit_code, 0) << table.output;
  EXPECT_NE(table.output.find("test sets differ"), std::string::npos) << table.output;
  EXPECT_EQ(table.output.find("McNemar p"), std::string::npos) << table.output;

  // CSV stays the figures alone.
  auto csv = run_command(cli() + " compare " + a.string() + " " + b.string() + " --csv");
  ASSERT_EQ(csv.exit_code, 0) << csv.output;
  EXPECT_EQ(csv.output.find("McNemar"), std::string::npos) << csv.output;
  EXPECT_EQ(run_command(cli() + " compare " + a.string() + " --json --csv").exit_code, 2);
}

}  // namespace

namespace {

// Two class folders of blurred-noise pictures (class 1 with a bright disc).
void write_picture_folders(const fs::path& root) {
  for (int c = 0; c < 2; ++c) {
    fs::create_directories(root / ("class" + std::to_string(c)));
    for (int i = 0; i < 30; ++i) {
      cv::Mat image(32, 32, CV_8UC1);
      cv::RNG rng(static_cast<std::uint64_t>(c * 100 + i) * 7919u + 17u);
      rng.fill(image, cv::RNG::UNIFORM, 0, 255);
      cv::GaussianBlur(image, image, cv::Size(7, 7), 2.0);
      if (c == 1) cv::circle(image, {16, 16}, 8, cv::Scalar(255), -1);
      cv::imwrite((root / ("class" + std::to_string(c)) / ("img" + std::to_string(i) + ".png")).string(), image);
    }
  }
}

}  // namespace

// One run reads the dataset through an absolute path, the other through a
// relative one (as CEREBRA_DATA=../shared/datasets does): the same files, so
// `compare` pairs them up and tests them.
TEST(StatisticsCompare, RunsThatNamedTheSameFilesDifferentlyArePaired) {
  TempDir dir;
  write_picture_folders(dir.file("data"));
  const std::string body = "[split]\ntrain = 0.6\nval = 0.2\ntest = 0.2\nseed = 42\n[[preprocess]]\ntype = "
                           "\"resize\"\nsize = 32\n[model]\ntype = \"cnn\"\ninput_size = 32\n[training]\nepochs = 2\n"
                           "batch_size = 8\n";
  write_text(dir.file("absolute.toml"), "[run]\nseed = 1\nthreads = 1\n[dataset]\ntype = \"image_folder\"\nroot = \"" +
                                            dir.file("data") + "\"\n" + body);
  write_text(dir.file("relative.toml"),
             "[run]\nseed = 2\nthreads = 1\n[dataset]\ntype = \"image_folder\"\nroot = \"data\"\n" + body);
  const std::string in_dir = "cd " + dir.file("") + " && ";
  for (const std::string name : {"absolute", "relative"}) {
    const auto result = run_command(in_dir + cli() + " run " + name + ".toml --set run.output=" + name);
    ASSERT_EQ(result.exit_code, 0) << result.output;
  }
  const fs::path a = first_run(dir.file("absolute")), b = first_run(dir.file("relative"));
  ASSERT_NE(read_text(b / "split.csv").find("\ndata/class0/"), std::string::npos) << "the ids differ in spelling";
  auto json = run_command(in_dir + cli() + " compare " + a.string() + " " + b.string() + " --json 2>/dev/null");
  ASSERT_EQ(json.exit_code, 0) << json.output;
  const auto test = nlohmann::json::parse(json.output)["paired_tests"]["comparisons"].at(0);
  EXPECT_FALSE(test.contains("skipped")) << test.dump();
  EXPECT_EQ(test["images"], 12) << test.dump();
}
