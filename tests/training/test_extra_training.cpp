// [extra_training]: a second dataset's images join the training split only,
// with coarse labels, less every copy or near copy of the first dataset's
// images; bad label lists are named errors.
#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "pictures.h"
#include "run_support.h"
#include "test_support.h"

namespace cerebra::testing {
namespace {

namespace fs = std::filesystem;

cv::Mat picture(int seed) { return noise_picture(seed, 40); }

void write_class(const fs::path& root, const std::string& name, int first_seed, int count) {
  fs::create_directories(root / name);
  for (int i = 0; i < count; ++i) {
    cv::imwrite((root / name / (name + std::to_string(i) + ".png")).string(), picture(first_seed + i));
  }
}

std::string pipeline(const fs::path& mine, const fs::path& extra, const std::string& labels,
                     const std::string& loss = "cross_entropy", const std::string& extra_type = "image_folder") {
  return "[run]\nseed = 3\nthreads = 1\n[dataset]\ntype = \"image_folder\"\nroot = \"" + mine.string() +
         "\"\n[split]\ntrain = 0.6\nval = 0.2\ntest = 0.2\n[[preprocess]]\ntype = \"resize\"\nsize = 32\n"
         "[model]\ntype = \"cnn\"\ninput_size = 32\n[training]\nepochs = 1\nbatch_size = 8\n[loss]\ntype = \"" +
         loss + "\"\n[extra_training]\ndataset = \"" + extra_type + "\"\nroot = \"" + extra.string() +
         "\"\nlabels = [" + labels + "]\n";
}

// file -> (class, split), from a run's split.csv (paths hold no commas here).
std::map<std::string, std::pair<std::string, std::string>> manifest(const fs::path& run) {
  std::map<std::string, std::pair<std::string, std::string>> rows;
  std::istringstream in(read_text(run / "split.csv"));
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    std::vector<std::string> fields;
    std::stringstream row(line);
    for (std::string field; std::getline(row, field, ',');) fields.push_back(field);
    if (fields.size() >= 3) rows[fields[0]] = {fields[1], fields[2]};
  }
  return rows;
}

TEST(ExtraTraining, JoinsTrainOnlyWithCoarseLabelsAndWithoutCopiesOfTheDatasetsImages) {
  TempDir dir;
  const fs::path mine = dir.file("mine"), extra = dir.file("extra");
  write_class(mine, "a", 0, 10);
  write_class(mine, "b", 100, 10);
  write_class(mine, "c", 200, 10);
  write_class(extra, "x", 300, 6);
  write_class(extra, "y", 400, 5);
  write_class(extra, "z", 500, 4);  // not named in labels: left out
  // A re-encoded, brighter copy of one of this dataset's images hides among x.
  cv::imwrite((extra / "x" / "copy.jpg").string(), picture(3) + 4, {cv::IMWRITE_JPEG_QUALITY, 92});
  write_text(dir.file("p.toml"), pipeline(mine, extra, "\"x = a | b\", \"y=c\""));

  const auto result = run_command(cli() + " run " + dir.file("p.toml") + " --set run.output=" + dir.file("runs"));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("11 training image(s) from [extra_training] image_folder (1 coarse label(s)); 1 left "
                               "out as copies or near copies"),
            std::string::npos)
      << result.output;
  const fs::path run = only_run(dir.file("runs"));
  const auto rows = manifest(run);
  EXPECT_EQ(rows.count((extra / "x" / "copy.jpg").string()), 0u) << "a near copy of a dataset image was trained on";
  EXPECT_EQ(rows.count((extra / "z" / "z0.png").string()), 0u) << "a class not named in labels joined";
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(rows.at((extra / "x" / ("x" + std::to_string(i) + ".png")).string()),
              std::make_pair(std::string("a|b"), std::string("train")));
  }
  EXPECT_EQ(rows.at((extra / "y" / "y0.png").string()), std::make_pair(std::string("c"), std::string("train")));
  std::size_t mine_rows = 0;
  for (const auto& [file, row] : rows) mine_rows += file.rfind(mine.string(), 0) == 0 ? 1 : 0;
  EXPECT_EQ(mine_rows, 30u);

  const auto summary = read_json(run / "summary.json");
  EXPECT_EQ(summary["split"]["extra_training"]["images"], 11);
  EXPECT_EQ(summary["split"]["extra_training"]["excluded"], 1);
  EXPECT_EQ(summary["classes"], nlohmann::json({"a", "b", "c"}));
  EXPECT_EQ(summary["test"]["images"], summary["split"]["test"]);
  // The audit of the pipeline lists the joined images too, outside the dataset's classes where coarse.
  const auto audit = run_command(cli() + " audit " + dir.file("p.toml") + " --json 2>/dev/null");
  ASSERT_EQ(audit.exit_code, 0) << audit.output;
  EXPECT_EQ(nlohmann::json::parse(audit.output)["files"], 41);

  const auto metrics = read_metrics(run);
  ASSERT_EQ(metrics.size(), 1u);
  EXPECT_GE(metrics[0]["train_accuracy"].get<double>(), 0.0);
  EXPECT_LE(metrics[0]["train_accuracy"].get<double>(), 1.0);
}

TEST(ExtraTraining, TheExtraDatasetsOwnTestFolderNeverJoins) {
  TempDir dir;
  const fs::path mine = dir.file("mine"), extra = dir.file("four");
  write_class(mine, "a", 0, 5);
  write_class(mine, "b", 100, 5);
  int seed = 300;
  for (const char* name : {"glioma_tumor", "meningioma_tumor", "no_tumor", "pituitary_tumor"}) {
    write_class(extra / "Training", name, seed, 2);
    write_class(extra / "Testing", name, seed + 50, 2);
    seed += 100;
  }
  write_text(dir.file("p.toml"), pipeline(mine, extra, "\"glioma_tumor = a | b\", \"no_tumor = a\"",
                                          "cross_entropy", "brain_tumor_4class"));
  const auto result = run_command(cli() + " run " + dir.file("p.toml") + " --set run.output=" + dir.file("runs"));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const auto rows = manifest(only_run(dir.file("runs")));
  std::size_t training = 0, testing = 0;
  for (const auto& [file, row] : rows) {
    training += file.find("/Training/") != std::string::npos ? 1 : 0;
    testing += file.find("/Testing/") != std::string::npos ? 1 : 0;
  }
  EXPECT_EQ(training, 4u) << "glioma and no tumour from Training/";
  EXPECT_EQ(testing, 0u) << "the extra dataset's Testing/ folder was trained on";
}

TEST(ExtraTraining, ABadLabelListOrALossWithoutCoarseLabelsIsNamed) {
  TempDir dir;
  const fs::path mine = dir.file("mine"), extra = dir.file("extra");
  write_class(mine, "a", 0, 5);
  write_class(mine, "b", 100, 5);
  write_class(extra, "x", 300, 3);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"\"w = a\"", "the extra dataset has no class 'w' (it has x)"},
      {"\"x = a | q\"", "this dataset has no class 'q' (it has a, b)"},
      {"\"x a b\"", "expected \"CLASS = A | B\""},
      {"\"x = a\", \"x = b\"", "'x' is given twice"},
      {"", "labels: empty"},
  };
  for (const auto& [labels, message] : cases) {
    write_text(dir.file("p.toml"), pipeline(mine, extra, labels));
    const auto result = run_command(cli() + " run " + dir.file("p.toml") + " --set run.output=" + dir.file("runs"));
    EXPECT_NE(result.exit_code, 0) << labels << "\n" << result.output;
    EXPECT_NE(result.output.find(message), std::string::npos) << labels << "\n" << result.output;
  }
  write_text(dir.file("p.toml"), pipeline(mine, extra, "\"x = a\"", "cross_entropy", "image_foldr"));
  const auto unknown = run_command(cli() + " validate " + dir.file("p.toml"));
  EXPECT_NE(unknown.exit_code, 0) << unknown.output;
  EXPECT_NE(unknown.output.find("[extra_training]: dataset: 'image_foldr' is not a registered dataset"),
            std::string::npos)
      << unknown.output;
  write_text(dir.file("p.toml"), pipeline(mine, extra, "\"x = a | b\"", "focal"));
  const auto focal = run_command(cli() + " run " + dir.file("p.toml") + " --set run.output=" + dir.file("runs"));
  EXPECT_EQ(focal.exit_code, 1) << focal.output;
  EXPECT_NE(focal.output.find("focal does not take coarse labels"), std::string::npos) << focal.output;
}

}  // namespace
}  // namespace cerebra::testing
