// `cerebra eval`, `predict` and `compare` end to end on two tiny synthetic
// runs trained once for the whole suite.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "run_support.h"
#include "test_support.h"

namespace fs = std::filesystem;
using cerebra::testing::cli;
using cerebra::testing::first_run;
using cerebra::testing::CommandResult;
using cerebra::testing::read_json;
using cerebra::testing::read_text;
using cerebra::testing::run_command;
using cerebra::testing::TempDir;
using cerebra::testing::write_text;
using nlohmann::json;

namespace {

const std::string kPipeline = cerebra::testing::tiny_pipeline(2);

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

std::vector<std::string> split_commas(const std::string& line) {
  std::vector<std::string> fields(1);
  for (char c : line) {
    if (c == ',') fields.emplace_back(); else fields.back() += c;
  }
  return fields;
}

double accuracy_of(const json& metrics) { return metrics["accuracy"]["value"].get<double>(); }

// A gray square with a bright blob whose place depends on `index`, so images differ.
void write_png(const fs::path& file, int index, int size = 40) {
  fs::create_directories(file.parent_path());
  cv::Mat image(size, size, CV_8UC1, cv::Scalar(30 + 5 * index));
  cv::circle(image, {8 + (index * 7) % 24, 8 + (index * 11) % 24}, 5, cv::Scalar(220), -1);
  ASSERT_TRUE(cv::imwrite(file.string(), image)) << file;
}

// Trains the tiny pipeline into `output` and returns its run directory, or an
// empty path after reporting the failure.
fs::path train(const TempDir& dir, const std::string& output, const std::string& options) {
  auto result = run_command(cli() + " run " + dir.file("tiny.toml") + " --set run.output=" + dir.file(output) + " " +
                            options);
  EXPECT_EQ(result.exit_code, 0) << result.output;
  if (result.exit_code != 0) return {};
  return first_run(dir.file(output));
}

// One run shared by the suite (ctest starts each test in its own process, so
// every test trains it once: keep it tiny).
class Evaluation : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    write_text(dir_->file("tiny.toml"), kPipeline);
    // ROC-AUC as well, so compare must add that column.
    run_a_ = new fs::path(train(*dir_, "a",
                                "--set 'evaluation.metrics=[\"accuracy\",\"precision\",\"sensitivity\","
                                "\"specificity\",\"f1\",\"roc_auc\"]'"));
  }
  void SetUp() override { ASSERT_FALSE(run_a_->empty()) << "the run the suite shares could not be trained"; }
  static void TearDownTestSuite() {
    delete run_a_;
    delete dir_;
  }

  static TempDir* dir_;
  static fs::path* run_a_;
};

TempDir* Evaluation::dir_ = nullptr;
fs::path* Evaluation::run_a_ = nullptr;

TEST_F(Evaluation, SplitsGiveTheFiguresOfTheSummary) {
  const fs::path run = *run_a_;
  json summary = read_json(run / "summary.json");

  auto test = run_command(cli() + " eval " + run.string());
  ASSERT_EQ(test.exit_code, 0) << test.output;
  json metrics = read_json(run / "eval" / "metrics.json");
  EXPECT_EQ(metrics["split"], "test");
  EXPECT_EQ(metrics["images"], summary["test"]["images"]);
  EXPECT_DOUBLE_EQ(accuracy_of(metrics["metrics"]), accuracy_of(summary["test"]["metrics"]));
  for (const char* name : {"precision", "sensitivity", "specificity", "f1", "roc_auc"}) {
    EXPECT_EQ(metrics["metrics"][name]["value"], summary["test"]["metrics"][name]["value"]) << name;
  }
  EXPECT_NEAR(metrics["loss"].get<double>(), summary["test"]["loss"].get<double>(), 1e-9);
  // The same images, predicted the same way as during training.
  EXPECT_EQ(read_text(run / "eval" / "predictions.csv"), read_text(run / "eval" / "predictions_test.csv"));
  EXPECT_NE(test.output.find("accuracy"), std::string::npos) << test.output;

  // The confusion matrix counts every test image; its diagonal is the accuracy.
  auto matrix = lines_of(read_text(run / "eval" / "confusion_matrix.csv"));
  ASSERT_EQ(matrix.size(), 3u);
  EXPECT_EQ(matrix[0], "true\\predicted,no,yes");
  long total = 0, diagonal = 0;
  for (std::size_t row = 1; row < matrix.size(); ++row) {
    auto fields = split_commas(matrix[row]);
    ASSERT_EQ(fields.size(), 3u);
    for (std::size_t column = 1; column < fields.size(); ++column) {
      total += std::stol(fields[column]);
      if (column == row) diagonal += std::stol(fields[column]);
    }
  }
  EXPECT_EQ(total, summary["test"]["images"].get<long>());
  EXPECT_DOUBLE_EQ(static_cast<double>(diagonal) / total, accuracy_of(summary["test"]["metrics"]));

  auto val = run_command(cli() + " eval " + run.string() + " --split val");
  ASSERT_EQ(val.exit_code, 0) << val.output;
  json val_metrics = read_json(run / "eval" / "metrics.json");
  EXPECT_EQ(val_metrics["split"], "val");
  EXPECT_DOUBLE_EQ(accuracy_of(val_metrics["metrics"]), accuracy_of(summary["val"]["metrics"]));
  EXPECT_EQ(val_metrics["images"].get<long>(), summary["split"]["val"].get<long>());

  for (const auto& entry : fs::recursive_directory_iterator(run)) {
    EXPECT_NE(entry.path().extension(), ".tmp") << entry.path();
  }
}

// A confusion matrix's headline value is the accuracy again: the summary
// keeps its counts, while epoch figures and the test line leave it out.
TEST_F(Evaluation, AConfusionMatrixIsKeptWholeNotRepeatedAsAHeadline) {
  auto result = run_command(cli() + " run " + dir_->file("tiny.toml") + " --set run.output=" + dir_->file("matrix") +
                            " --set 'evaluation.metrics=[\"accuracy\",\"confusion_matrix\"]' 2>&1");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const fs::path run = first_run(dir_->file("matrix"));
  json summary = read_json(run / "summary.json");
  ASSERT_TRUE(summary["test"]["metrics"]["confusion_matrix"].contains("matrix")) << summary.dump();
  const auto epochs = lines_of(read_text(run / "metrics.jsonl"));
  ASSERT_FALSE(epochs.empty());
  for (const auto& line : epochs) {
    const json figures = json::parse(line);
    EXPECT_TRUE(figures.contains("val_accuracy")) << line;
    EXPECT_FALSE(figures.contains("val_confusion_matrix")) << line;
  }
  const auto test_line = result.output.find("test (");
  ASSERT_NE(test_line, std::string::npos) << result.output;
  const std::string line = result.output.substr(test_line, result.output.find('\n', test_line) - test_line);
  EXPECT_NE(line.find("accuracy"), std::string::npos) << line;
  EXPECT_EQ(line.find("confusion_matrix"), std::string::npos) << line;
  // `eval` prints the counts as their own table, not as a row of the metrics table.
  auto eval = run_command(cli() + " eval " + run.string() + " 2>&1");
  ASSERT_EQ(eval.exit_code, 0) << eval.output;
  EXPECT_NE(eval.output.find("true \\ predicted"), std::string::npos) << eval.output;
  EXPECT_EQ(eval.output.find("\nconfusion_matrix"), std::string::npos) << eval.output;
}

TEST_F(Evaluation, AFolderLaidOutLikeTheTrainingData) {
  const fs::path run = *run_a_;
  const fs::path data = dir_->path() / "holdout";
  std::vector<std::pair<std::string, std::string>> written;  // (file, class)
  for (int i = 0; i < 5; ++i) {
    for (const char* name : {"no", "yes"}) {
      fs::path file = data / name / fmt::format("{}{}.png", name, i);
      write_png(file, i + (name[0] == 'y' ? 10 : 0));
      written.emplace_back(file.string(), name);
    }
  }
  write_text((data / "yes" / "notes.txt").string(), "not an image, not listed");
  // A split evaluation already there must survive.
  ASSERT_EQ(run_command(cli() + " eval " + run.string()).exit_code, 0);
  const std::string split_metrics = read_text(run / "eval" / "metrics.json");

  auto result = run_command(cli() + " eval " + run.string() + " --data " + data.string());
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(read_text(run / "eval" / "metrics.json"), split_metrics);
  json metrics = read_json(run / "eval" / "holdout" / "metrics.json");
  EXPECT_EQ(metrics["data"], data.string());
  EXPECT_EQ(metrics["images"], 10);
  EXPECT_EQ(metrics["metrics"]["accuracy"]["count"], 10);
  ASSERT_TRUE(fs::exists(run / "eval" / "holdout" / "confusion_matrix.csv"));

  auto rows = lines_of(read_text(run / "eval" / "holdout" / "predictions.csv"));
  ASSERT_EQ(rows.size(), 11u);
  EXPECT_EQ(rows[0], "file,true_class,predicted_class,p_no,p_yes");
  std::map<std::string, std::vector<std::string>> by_file;
  for (std::size_t i = 1; i < rows.size(); ++i) {
    auto fields = split_commas(rows[i]);
    ASSERT_EQ(fields.size(), 5u) << rows[i];
    by_file[fields[0]] = fields;
  }
  for (const auto& [file, name] : written) {
    ASSERT_TRUE(by_file.count(file)) << file;
    EXPECT_EQ(by_file[file][1], name) << file;
  }

  // predict gives the same probabilities as the folder evaluation.
  auto predicted = run_command(cli() + " predict " + run.string() + " " + data.string() + " --csv 2>/dev/null");
  ASSERT_EQ(predicted.exit_code, 0) << predicted.output;
  auto predicted_rows = lines_of(predicted.output);
  ASSERT_EQ(predicted_rows.size(), 11u) << predicted.output;
  EXPECT_EQ(predicted_rows[0], "file,class,p_no,p_yes,error");
  for (std::size_t i = 1; i < predicted_rows.size(); ++i) {
    auto fields = split_commas(predicted_rows[i]);
    ASSERT_EQ(fields.size(), 5u) << predicted_rows[i];
    ASSERT_TRUE(by_file.count(fields[0])) << fields[0];
    EXPECT_EQ(fields[1], by_file[fields[0]][2]) << fields[0];
    EXPECT_NEAR(std::stod(fields[2]), std::stod(by_file[fields[0]][3]), 1e-5) << fields[0];
    EXPECT_NEAR(std::stod(fields[3]), std::stod(by_file[fields[0]][4]), 1e-5) << fields[0];
    EXPECT_EQ(fields[4], "");
  }

  // Class folders that are not the run's classes are named.
  write_png(dir_->path() / "odd" / "no" / "a.png", 1);
  write_png(dir_->path() / "odd" / "maybe" / "b.png", 2);
  auto odd = run_command(cli() + " eval " + run.string() + " --data " + dir_->file("odd"));
  EXPECT_EQ(odd.exit_code, 1) << odd.output;
  EXPECT_NE(odd.output.find("folder(s) maybe are not classes of run"), std::string::npos) << odd.output;
  EXPECT_NE(odd.output.find("its classes: no, yes"), std::string::npos) << odd.output;
  EXPECT_FALSE(fs::exists(run / "eval" / "odd"));
}

TEST_F(Evaluation, PredictReportsUnreadableFilesAndPredictsTheOthers) {
  const fs::path run = *run_a_;
  const fs::path images = dir_->path() / "images";
  write_png(images / "one.png", 1);
  write_png(images / "two.png", 2, 50);  // another size: preprocessing resizes it
  write_text((images / "corrupt.png").string(), "this is not a PNG");

  auto table = run_command(cli() + " predict " + run.string() + " " + (images / "one.png").string() + " " +
                           (images / "corrupt.png").string() + " " + (images / "two.png").string() + " " +
                           dir_->file("absent.png"));
  ASSERT_EQ(table.exit_code, 0) << table.output;
  auto lines = lines_of(table.output);
  auto line_of = [&](const std::string& needle) {
    for (const auto& line : lines) {
      if (line.find(needle) != std::string::npos) return line;
    }
    return std::string();
  };
  EXPECT_NE(line_of("corrupt.png").find("not a readable image"), std::string::npos) << table.output;
  EXPECT_NE(line_of("absent.png").find("no such file"), std::string::npos) << table.output;
  EXPECT_NE(table.output.find("2 of 4 file(s) could not be predicted"), std::string::npos) << table.output;
  for (const char* good : {"one.png", "two.png"}) {
    std::string line = line_of(good);
    EXPECT_TRUE(line.find(" no ") != std::string::npos || line.find(" yes ") != std::string::npos) << line;
  }

  auto out = run_command(cli() + " predict " + run.string() + " " + images.string() + " --json 2>/dev/null");
  ASSERT_EQ(out.exit_code, 0) << out.output;
  json parsed = json::parse(out.output);  // throws, failing the test, if not valid JSON
  EXPECT_EQ(parsed["classes"], json({"no", "yes"}));
  ASSERT_EQ(parsed["predictions"].size(), 3u);
  int errors = 0;
  for (const auto& item : parsed["predictions"]) {
    if (item.contains("error")) {
      ++errors;
      EXPECT_NE(item["file"].get<std::string>().find("corrupt.png"), std::string::npos);
      EXPECT_NE(item["error"].get<std::string>().find("corrupt.png"), std::string::npos) << item;
      continue;
    }
    double sum = item["probabilities"]["no"].get<double>() + item["probabilities"]["yes"].get<double>();
    EXPECT_NEAR(sum, 1.0, 1e-5);
    std::string best = item["probabilities"]["no"].get<double>() >= item["probabilities"]["yes"].get<double>() ? "no" : "yes";
    EXPECT_EQ(item["class"], best);
  }
  EXPECT_EQ(errors, 1);

  auto none = run_command(cli() + " predict " + run.string() + " " + (images / "corrupt.png").string());
  EXPECT_EQ(none.exit_code, 1) << none.output;
  EXPECT_EQ(run_command(cli() + " predict " + run.string()).exit_code, 2);
  EXPECT_EQ(run_command(cli() + " predict " + run.string() + " x.png --csv --json").exit_code, 2);
}

TEST_F(Evaluation, CompareListsRunsInThePapersLayout) {
  // B: another seed, one epoch, the default metrics (no ROC-AUC).
  const fs::path run_b = train(*dir_, "b", "--set training.epochs=1 --set run.seed=11");
  ASSERT_FALSE(run_b.empty());
  json summary_a = read_json(*run_a_ / "summary.json"), summary_b = read_json(run_b / "summary.json");

  auto markdown = run_command(cli() + " compare " + run_a_->string() + " " + run_b.string() + " --markdown");
  ASSERT_EQ(markdown.exit_code, 0) << markdown.output;
  auto lines = lines_of(markdown.output);
  ASSERT_GE(lines.size(), 4u) << markdown.output;
  // B trained on the split of its own seed: no paired test (tests/statistics covers the paired case).
  EXPECT_NE(markdown.output.find(run_b.string() + "): not tested against the first run: test sets differ"),
            std::string::npos)
      << markdown.output;
  EXPECT_EQ(lines[0], "| Model | Accuracy | Precision | Sensitivity | F1-Score | Specificity | ROC-AUC | Dataset | "
                      "Epochs | ImageNet weights | Run |");
  EXPECT_EQ(lines[1].substr(0, 10), "|---|---:|");
  EXPECT_EQ(lines[2].rfind("| CNN | " + fmt::format("{:.4f}", accuracy_of(summary_a["test"]["metrics"])), 0), 0u)
      << lines[2];
  EXPECT_NE(lines[2].find("| synthetic | 2 | no | " + run_a_->string() + " |"), std::string::npos) << lines[2];
  // B did not measure ROC-AUC: an empty mark, not a number.
  EXPECT_NE(lines[3].find("| — | synthetic | 1 |"), std::string::npos) << lines[3];

  auto csv = run_command(cli() + " compare " + run_a_->string() + " " + dir_->file("no-such-run") + " " +
                         run_b.string() + " --csv");
  ASSERT_EQ(csv.exit_code, 0) << csv.output;
  EXPECT_NE(csv.output.find(dir_->file("no-such-run") + ": no such run directory"), std::string::npos) << csv.output;
  std::vector<std::string> rows;
  for (const auto& line : lines_of(csv.output)) {
    if (line.rfind("cerebra compare:", 0) != 0) rows.push_back(line);
  }
  ASSERT_EQ(rows.size(), 3u) << csv.output;
  EXPECT_EQ(rows[0], "Model,Accuracy,Precision,Sensitivity,F1-Score,Specificity,ROC-AUC,Dataset,Epochs,"
                     "ImageNet weights,Run");
  auto b = split_commas(rows[2]);
  ASSERT_EQ(b.size(), 11u) << rows[2];
  EXPECT_EQ(b[0], "CNN");
  EXPECT_EQ(b[1], fmt::format("{:.4f}", accuracy_of(summary_b["test"]["metrics"])));
  EXPECT_EQ(b[4], fmt::format("{:.4f}", summary_b["test"]["metrics"]["f1"]["value"].get<double>()));
  EXPECT_EQ(b[6], "");
  EXPECT_EQ(b[8], "1");
  EXPECT_EQ(b[10], run_b.string());

  auto missing = run_command(cli() + " compare " + dir_->file("gone"));
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.output.find(dir_->file("gone") + ": no such run directory"), std::string::npos) << missing.output;
}

TEST(EvaluationUsage, BadRunDirectoriesAndOptionsAreNamed) {
  TempDir dir;
  auto missing = run_command(cli() + " eval " + dir.file("nowhere"));
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.output.find(dir.file("nowhere") + ": no such run directory"), std::string::npos)
      << missing.output;
  auto not_run = run_command(cli() + " eval " + dir.path().string());
  EXPECT_EQ(not_run.exit_code, 1);
  EXPECT_NE(not_run.output.find("not a run directory (no pipeline.toml)"), std::string::npos) << not_run.output;
  // Usage is checked before the run directory is opened.
  auto bad_split = run_command(cli() + " eval " + dir.file("run") + " --split holdout");
  EXPECT_EQ(bad_split.exit_code, 2);
  EXPECT_NE(bad_split.output.find("--split must be test, val or train"), std::string::npos) << bad_split.output;
  EXPECT_EQ(run_command(cli() + " eval " + dir.file("run") + " --split val --data x").exit_code, 2);
  EXPECT_EQ(run_command(cli() + " compare " + dir.file("run") + " --csv --markdown").exit_code, 2);
}

}  // namespace
