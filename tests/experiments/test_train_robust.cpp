// tools/train-robust.sh end to end on tiny generated datasets laid out as
// Br35H and the four-class data: the pretraining, both configs per seed
// started from it (the extra one with Br35H's images), members.txt and the
// ensemble's evaluation.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "pictures.h"
#include "run_support.h"
#include "test_support.h"

using namespace cerebra::testing;
namespace fs = std::filesystem;

namespace {

// A dark frame with a bright "head" of noise texture; tumour classes add a disc
// whose place depends on the class.
void write_heads(const fs::path& folder, int first_seed, int count, int disc) {
  fs::create_directories(folder);
  for (int i = 0; i < count; ++i) {
    cv::Mat image(64, 64, CV_8UC1, cv::Scalar(0));
    cv::Mat head = noise_picture(first_seed + i, 48) / 2 + 60;
    cv::Mat mask(48, 48, CV_8UC1, cv::Scalar(0));
    cv::ellipse(mask, {24, 24}, {22, 23}, 0, 0, 360, cv::Scalar(255), -1);
    head.copyTo(image(cv::Rect(8, 8, 48, 48)), mask);
    if (disc >= 0) cv::circle(image, {20 + 8 * disc, 28}, 6, cv::Scalar(250), -1);
    cv::imwrite((folder / ("img" + std::to_string(first_seed + i) + ".jpg")).string(), image);
  }
}

std::vector<std::string> lines_of(const fs::path& file) {
  std::vector<std::string> lines;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

}  // namespace

TEST(TrainRobust, PretrainsThenTrainsBothConfigsPerSeedFromItAndScoresTheirEnsemble) {
  TempDir dir;
  const fs::path data = dir.file("data");
  write_heads(data / "br35h" / "no", 0, 14, -1);
  write_heads(data / "br35h" / "yes", 100, 14, 1);
  const fs::path four = data / "brain-tumor-mri-4class" / "Training";
  write_heads(four / "glioma_tumor", 200, 10, 0);
  write_heads(four / "meningioma_tumor", 300, 10, 2);
  write_heads(four / "no_tumor", 400, 10, -1);
  write_heads(four / "pituitary_tumor", 500, 10, 3);

  const fs::path build = fs::path(CEREBRA_CLI).parent_path().parent_path();
  const fs::path out = dir.file("robust");
  const std::string command = "cd '" + dir.file("") + "' && env -u CEREBRA_PLUGIN_PATH -u CEREBRA_STORE CEREBRA_DATA='" +
                              data.string() + "' bash '" + CEREBRA_SOURCE_DIR + "/tools/train-robust.sh' --build '" +
                              build.string() + "' --seeds 5 --out '" + out.string() +
                              "' -- --set training.epochs=1 --set run.threads=1 --set loader.cache_dir='" +
                              dir.file("cache") + "'";
  const CommandResult result = run_command(command + " 2>&1");
  ASSERT_EQ(result.exit_code, 0) << result.output;

  const auto members = lines_of(out / "members.txt");
  ASSERT_EQ(members.size(), 2u) << result.output;
  const auto pretrained = run_folders(out / "pretrained");
  ASSERT_EQ(pretrained.size(), 1u);
  for (const auto& member : members) {
    const auto summary = read_json(fs::path(member) / "summary.json");
    EXPECT_EQ(summary["seed"], 5) << member;
    EXPECT_EQ(summary["transfer_mode"], "full") << member;
    EXPECT_EQ(fs::path(summary["weights"].get<std::string>()), pretrained[0])
        << member << " did not start from the pretraining";
  }
  EXPECT_NE(members[0].find("four_class_robust_s5"), std::string::npos);
  EXPECT_NE(members[1].find("four_class_robust_extra_s5"), std::string::npos);
  const auto extra = read_json(fs::path(members[1]) / "summary.json");
  EXPECT_EQ(extra["split"]["extra_training"]["images"], 28) << "Br35H's images join the extra config only";
  EXPECT_FALSE(read_json(fs::path(members[0]) / "summary.json")["split"].contains("extra_training"));
  EXPECT_NE(result.output.find("ensemble of 2 runs"), std::string::npos) << result.output;

  const CommandResult bad = run_command("bash '" + std::string(CEREBRA_SOURCE_DIR) +
                                        "/tools/train-robust.sh' --seed 5 2>&1");
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_NE(bad.output.find("unknown argument '--seed'"), std::string::npos) << bad.output;
}
