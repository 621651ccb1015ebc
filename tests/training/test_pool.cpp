// The `pool` dataset: a pretraining set from other pipelines' training splits
// and unlabelled folders that never holds a source's test image or a near
// copy of one, and the linear probe that self-supervised runs report.
#include <algorithm>
#include <cstdlib>
#include <set>

#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "pictures.h"
#include "run_support.h"
#include "test_support.h"

namespace cerebra::testing {
namespace {

namespace fs = std::filesystem;

cv::Mat picture(int seed) { return noise_picture(seed, 48); }

// Two class folders of `per_class` pictures each; seeds start at `first_seed`;
// `gain` sets the source's brightness, so a probe can tell the sources apart.
void write_classes(const fs::path& root, int first_seed, int per_class, double gain = 1.0) {
  for (int c = 0; c < 2; ++c) {
    fs::create_directories(root / ("class" + std::to_string(c)));
    for (int i = 0; i < per_class; ++i) {
      const int seed = first_seed + c * per_class + i;
      cv::Mat image = picture(seed);
      if (c == 1) cv::circle(image, {24, 24}, 12, cv::Scalar(255), -1);  // a "lesion" the probe can find
      image.convertTo(image, -1, gain);
      cv::imwrite((root / ("class" + std::to_string(c)) / ("img" + std::to_string(seed) + ".png")).string(), image);
    }
  }
}

std::string folder_pipeline(const fs::path& root) {
  return "[run]\nseed = 5\n[dataset]\ntype = \"image_folder\"\nroot = \"" + root.string() +
         "\"\n[split]\ntrain = 0.6\nval = 0.2\ntest = 0.2\n[[preprocess]]\ntype = \"resize\"\nsize = 32\n"
         "[model]\ntype = \"cnn\"\ninput_size = 32\n";
}

std::string pool_pipeline(const std::string& sources, const fs::path& unlabelled, const std::string& objective) {
  return "[run]\nname = \"pool\"\nseed = 5\nthreads = 1\n[dataset]\ntype = \"pool\"\nsources = [" + sources +
         "]\nunlabelled = [\"" + unlabelled.string() + "\"]\n[split]\ntrain = 0.6\nval = 0.2\ntest = 0.2\n"
         "[[preprocess]]\ntype = \"resize\"\nsize = 32\n[[augment]]\ntype = \"random_flip\"\n[[augment]]\n"
         "type = \"random_brightness_contrast\"\n[model]\ntype = \"cnn\"\ninput_size = 32\n[training]\nepochs = 2\n"
         "batch_size = 16\nprobe_every = 1\nmonitor = \"train_loss\"\n[objective]\ntype = \"" + objective + "\"\n";
}

// file -> split, from a run's split.csv (paths hold no commas here).
std::map<std::string, std::string> split_of(const fs::path& run) {
  std::map<std::string, std::string> result;
  std::istringstream in(read_text(run / "split.csv"));
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::vector<std::string> fields;
    std::stringstream row(line);
    for (std::string field; std::getline(row, field, ',');) fields.push_back(field);
    if (fields.size() >= 3) result[fields[0]] = fields[2];
  }
  return result;
}

TEST(Pool, HoldsTrainingImagesOfItsSourcesButNoTestImageNorANearCopyOfOne) {
  TempDir dir;
  const fs::path a = dir.file("a"), b = dir.file("b"), unlabelled = dir.file("unlabelled");
  write_classes(a, 0, 20);
  write_classes(b, 1000, 10, 0.4);
  fs::create_directories(unlabelled);
  for (int i = 0; i < 6; ++i) cv::imwrite((unlabelled / ("u" + std::to_string(i) + ".png")).string(), picture(5000 + i));
  write_text(dir.file("a.toml"), folder_pipeline(a));

  // A's test split, as its own runs make it.
  auto a_run = run_command(cli() + " run " + dir.file("a.toml") + " --set training.epochs=1 --set run.output=" +
                           dir.file("a-runs"));
  ASSERT_EQ(a_run.exit_code, 0) << a_run.output;
  std::vector<std::string> a_test;
  for (const auto& [file, split] : split_of(only_run(dir.file("a-runs")))) {
    if (split == "test") a_test.push_back(file);
  }
  ASSERT_GE(a_test.size(), 4u);
  // Re-encoded, slightly brighter copies of two of A's test images hide in B and in the unlabelled folder.
  cv::Mat copy = cv::imread(a_test[0], cv::IMREAD_GRAYSCALE) + 4;
  cv::imwrite((b / "class0" / "copy.jpg").string(), copy, {cv::IMWRITE_JPEG_QUALITY, 92});
  cv::imwrite((unlabelled / "copy.jpg").string(), cv::imread(a_test[1], cv::IMREAD_GRAYSCALE) + 3,
              {cv::IMWRITE_JPEG_QUALITY, 92});

  const std::string sources = "\"" + dir.file("a.toml") + "\", \"image_folder:" + b.string() + "\"";
  write_text(dir.file("pool.toml"), pool_pipeline(sources, unlabelled, "contrastive"));
  auto pool = run_command(cli() + " run " + dir.file("pool.toml") + " --set run.output=" + dir.file("pool-runs"));
  ASSERT_EQ(pool.exit_code, 0) << pool.output;
  const fs::path run = only_run(dir.file("pool-runs"));
  const auto split = split_of(run);
  for (const auto& file : a_test) EXPECT_EQ(split.count(file), 0u) << file << " is a test image of a source";
  EXPECT_EQ(split.count((b / "class0" / "copy.jpg").string()), 0u) << "a near copy of a test image is in the pool";
  EXPECT_EQ(split.count((unlabelled / "copy.jpg").string()), 0u) << "an unlabelled near copy is in the pool";
  EXPECT_EQ(split.at((unlabelled / "u0.png").string()), "train");
  std::set<std::string> splits;
  for (const auto& [file, part] : split) splits.insert(part);
  EXPECT_EQ(splits, (std::set<std::string>{"train", "val"}));
  EXPECT_NE(pool.output.find("left out of the pool as copies or near copies"), std::string::npos) << pool.output;

  const auto summary = read_json(run / "summary.json");
  EXPECT_EQ(summary["classes"], nlohmann::json({"image_folder/class0", "image_folder/class1", "image_folder#2/class0",
                                                "image_folder#2/class1"}));
  // The unlabelled copy at least (B's copy may have fallen in B's own test split).
  EXPECT_GE(summary["split"]["excluded_overlap"].get<int>(), 1);
  const auto metrics = read_metrics(run);
  ASSERT_EQ(metrics.size(), 2u);
  for (const auto& line : metrics) {
    ASSERT_TRUE(line.contains("val_probe_accuracy")) << line.dump();
  }
  // Four classes (two sources told apart by brightness, two classes by a bright disc):
  // chance is 0.25, and the probe finds at least twice that.
  EXPECT_GE(metrics.back()["val_probe_accuracy"].get<double>(), 0.5) << metrics.back().dump();
  EXPECT_NE(pool.output.find("probe_accuracy"), std::string::npos) << pool.output;
}

TEST(Pool, ASupervisedObjectiveIsToldItCannotLearnFromUnlabelledImages) {
  TempDir dir;
  const fs::path a = dir.file("a"), unlabelled = dir.file("unlabelled");
  write_classes(a, 0, 10);
  fs::create_directories(unlabelled);
  cv::imwrite((unlabelled / "u.png").string(), picture(77));
  write_text(dir.file("pool.toml"), pool_pipeline("\"image_folder:" + a.string() + "\"", unlabelled, "classification"));
  auto result = run_command(cli() + " run " + dir.file("pool.toml") + " --set run.output=" + dir.file("runs"));
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_NE(result.output.find("1 unlabelled training image(s), which the 'classification' objective cannot learn"),
            std::string::npos)
      << result.output;
}

TEST(Pool, NoSourcesIsAnErrorThatSaysWhatToWrite) {
  TempDir dir;
  write_text(dir.file("pool.toml"), pool_pipeline("", dir.file("u"), "contrastive"));
  auto result = run_command(cli() + " run " + dir.file("pool.toml") + " --set run.output=" + dir.file("runs"));
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_NE(result.output.find("pool: `sources` is empty"), std::string::npos) << result.output;
}

// Every shipped config (the pool's and the in-domain ones included) is valid
// where the real data is: run from the project root, as their paths expect.
TEST(ShippedConfigs, EveryConfigValidatesOnTheRealData) {
  const char* data = std::getenv("CEREBRA_DATA");
  if (!data || !fs::is_directory(fs::path(data) / "br35h") || !fs::is_directory(fs::path(data) / "brain-tumor-mri-4class")) {
    GTEST_SKIP() << "$CEREBRA_DATA with br35h/ and brain-tumor-mri-4class/ not available";
  }
  std::vector<fs::path> configs;
  for (const auto& entry : fs::directory_iterator(fs::path(CEREBRA_SOURCE_DIR) / "configs")) {
    if (entry.path().extension() == ".toml") configs.push_back(entry.path());
  }
  ASSERT_GE(configs.size(), 10u);
  for (const auto& config : configs) {
    auto result = run_command("cd " + std::string(CEREBRA_SOURCE_DIR) + " && " + cli() + " validate " + config.string());
    EXPECT_EQ(result.exit_code, 0) << result.output;
  }
}

}  // namespace
}  // namespace cerebra::testing
