// `cerebra explain` end to end, on runs of hand-weighted test architectures
// (tests/explain/plugins) whose right heat map is known: the image's
// brightness. The images are written by the test.
#include <gtest/gtest.h>

#include <filesystem>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "run_support.h"
#include "test_support.h"

namespace fs = std::filesystem;
using cerebra::testing::cli;
using cerebra::testing::first_run;
using cerebra::testing::read_jsonl;
using cerebra::testing::run_command;
using cerebra::testing::TempDir;
using cerebra::testing::write_text;
using nlohmann::json;

namespace {

const std::string kPlugins = std::string(" --plugin-path ") + CEREBRA_TEST_PLUGIN_DIR + "/explain";

// One epoch at learning rate 0: the run keeps the hand-set weights.
std::string pipeline(const std::string& architecture) {
  return R"([run]
name = "explain"
seed = 3
threads = 1

[dataset]
type = "synthetic"
classes = 2
count = 32
image_size = 64

[[preprocess]]
type = "crop_brain"

[[preprocess]]
type = "resize"
size = 48

[model]
type = ")" + architecture + R"("

[training]
epochs = 1
batch_size = 16

[optimizer]
type = "sgd"
learning_rate = 0
)";
}

// The run directory, or an empty path with `problem` saying why.
fs::path train(const TempDir& dir, const std::string& architecture, std::string& problem) {
  const std::string file = dir.file(architecture + ".toml");
  write_text(file, pipeline(architecture));
  auto result = run_command(cli() + " run " + file + " --set run.output=" + dir.file(architecture) + kPlugins);
  if (result.exit_code != 0) {
    problem = "training " + architecture + " failed: " + result.output;
    return {};
  }
  return first_run(dir.file(architecture));
}

// A wide slice: dark frame, gray elliptic head, one bright spot at (62, 30).
const cv::Point kSpot(62, 30);
bool write_slice(const fs::path& file) {
  fs::create_directories(file.parent_path());
  cv::Mat image(80, 100, CV_8UC1, cv::Scalar(8));
  cv::ellipse(image, {50, 40}, {34, 30}, 0, 0, 360, cv::Scalar(110), cv::FILLED);
  cv::circle(image, kSpot, 5, cv::Scalar(250), cv::FILLED);
  return cv::imwrite(file.string(), image);
}

class ExplainCli : public ::testing::Test {
 protected:
  // No assertion here: a failure in SetUpTestSuite makes GoogleTest skip the
  // tests, which ctest counts as passed. SetUp fails each test instead.
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    problem_ = new std::string();
    run_ = new fs::path(train(*dir_, "test_bright_net", *problem_));
    if (!write_slice(dir_->path() / "images" / "slice.png")) *problem_ += "cannot write the test image";
    write_text(dir_->file("images/broken.png"), "not an image");
  }
  static void TearDownTestSuite() {
    delete run_;
    delete problem_;
    delete dir_;
  }
  void SetUp() override { ASSERT_TRUE(problem_->empty()) << *problem_; }

  static std::string explain(const std::string& options) {
    return cli() + " explain " + run_->string() + " " + dir_->file("images") + kPlugins + " " + options;
  }

  static TempDir* dir_;
  static fs::path* run_;
  static std::string* problem_;
};

TempDir* ExplainCli::dir_ = nullptr;
fs::path* ExplainCli::run_ = nullptr;
std::string* ExplainCli::problem_ = nullptr;

}  // namespace

TEST_F(ExplainCli, WritesOverlaysAndALinePerImageWithThePeakOnTheOriginal) {
  auto result = run_command(explain(""));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const auto lines = read_jsonl(*run_ / "explain" / "cams.jsonl");
  ASSERT_EQ(lines.size(), 2u);

  // Sorted: broken.png first, with an error naming it; the other still explained.
  EXPECT_EQ(lines[0]["image"], dir_->file("images/broken.png"));
  EXPECT_NE(lines[0]["error"].get<std::string>().find("broken.png"), std::string::npos) << lines[0];
  EXPECT_NE(result.output.find("broken.png"), std::string::npos) << result.output;

  const json& line = lines[1];
  EXPECT_EQ(line["method"], "gradcam");
  EXPECT_EQ(line["predicted"], "yes");  // brightness is the evidence for the last class
  EXPECT_EQ(line["explained"], "yes");
  EXPECT_GT(line["probability"].get<double>(), 0.5);
  // Cropped to the head and resized to 48x48, the map still peaks on the
  // spot once carried back onto the 100x80 original.
  EXPECT_NEAR(line["peak"]["x"].get<double>(), kSpot.x, 3.0) << line;
  EXPECT_NEAR(line["peak"]["y"].get<double>(), kSpot.y, 3.0) << line;
  // The dark frame holds almost none of the brightness.
  EXPECT_GT(line["head_energy_share"].get<double>(), 0.9) << line;

  const cv::Mat model = cv::imread(line["overlay_model"].get<std::string>());
  const cv::Mat original = cv::imread(line["overlay_original"].get<std::string>());
  EXPECT_EQ(model.size(), cv::Size(48, 48));
  EXPECT_EQ(original.size(), cv::Size(100, 80));
  // The overlay is red where the map peaks and not where it is low.
  const cv::Vec3b hot = original.at<cv::Vec3b>(kSpot), cold = original.at<cv::Vec3b>(2, 2);
  EXPECT_GT(hot[2], hot[0]) << "BGR " << hot;
  EXPECT_LT(cold[2], cold[0] + 1) << "BGR " << cold;
}

TEST_F(ExplainCli, GradCamPlusPlusAndAChosenClass) {
  const fs::path out = dir_->path() / "plus";
  auto result = run_command(explain("--method gradcam++ --class no --json --out " + out.string()));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const auto lines = read_jsonl(out / "cams.jsonl");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[1]["method"], "gradcam++");
  EXPECT_EQ(lines[1]["predicted"], "yes");
  EXPECT_EQ(lines[1]["explained"], "no");
  // --json prints the same lines.
  EXPECT_NE(result.output.find("\"explained\":\"no\""), std::string::npos) << result.output;

  auto plus = run_command(explain("--method gradcam++ --out " + (dir_->path() / "plus2").string()));
  ASSERT_EQ(plus.exit_code, 0) << plus.output;
  const json line = read_jsonl(dir_->path() / "plus2" / "cams.jsonl")[1];
  EXPECT_NEAR(line["peak"]["x"].get<double>(), kSpot.x, 3.0) << line;
  EXPECT_NEAR(line["peak"]["y"].get<double>(), kSpot.y, 3.0) << line;
}

TEST_F(ExplainCli, SanityMapsOfAModelWithoutLearnedWeightsStayTheSame) {
  // The test net's "random" initialisation is its hand-set weights, so
  // randomising changes nothing: the measures must then say so (the
  // opposite of a trained model's, test_sanity.cpp).
  auto result = run_command(cli() + " explain " + run_->string() + " --sanity --json --data " + dir_->file("images") +
                            kPlugins + " 2>/dev/null");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const json report = json::parse(result.output);
  EXPECT_EQ(report["images"], 1);
  ASSERT_EQ(report["skipped"].size(), 1u);
  EXPECT_NE(report["skipped"][0].get<std::string>().find("broken.png"), std::string::npos) << report;
  ASSERT_EQ(report["randomisation"].size(), 2u);
  for (const auto& step : report["randomisation"]) {
    EXPECT_NEAR(step["spearman"].get<double>(), 1.0, 1e-9) << step;
    EXPECT_NEAR(step["ssim"].get<double>(), 1.0, 1e-9) << step;
  }
  EXPECT_TRUE(report["trained_localisation"].is_null());  // a folder has no known lesions
}

TEST_F(ExplainCli, BadUsageIsRefusedWithTheReason) {
  auto unknown = run_command(explain("--class yess"));
  EXPECT_EQ(unknown.exit_code, 2) << unknown.output;
  EXPECT_NE(unknown.output.find("unknown class 'yess' (did you mean 'yes'?)"), std::string::npos) << unknown.output;

  auto both = run_command(explain("--class yes --predicted"));
  EXPECT_EQ(both.exit_code, 2) << both.output;
  auto method = run_command(explain("--method lime"));
  EXPECT_EQ(method.exit_code, 2) << method.output;
  EXPECT_NE(method.output.find("gradcam or gradcam++"), std::string::npos) << method.output;

  std::filesystem::create_directories(dir_->file("empty"));
  auto nothing = run_command(cli() + " explain " + run_->string() + kPlugins + " " + dir_->file("missing.png") + " " +
                             dir_->file("empty"));
  EXPECT_EQ(nothing.exit_code, 1) << nothing.output;
  EXPECT_NE(nothing.output.find("missing.png: no such file"), std::string::npos) << nothing.output;
  EXPECT_NE(nothing.output.find("empty: folder holds no image files"), std::string::npos) << nothing.output;
}

TEST_F(ExplainCli, ArchitecturesThatCannotBeExplainedSayWhy) {
  std::string problem;
  const fs::path no_cam = train(*dir_, "test_no_cam_net", problem);
  ASSERT_FALSE(no_cam.empty()) << problem;
  auto result = run_command(cli() + " explain " + no_cam.string() + " " + dir_->file("images") + kPlugins);
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_NE(result.output.find("architecture 'test_no_cam_net' declares no Grad-CAM layer"), std::string::npos)
      << result.output;

  const fs::path uncut = train(*dir_, "test_uncut_net", problem);
  ASSERT_FALSE(uncut.empty()) << problem;
  result = run_command(cli() + " explain " + uncut.string() + " --sanity" + kPlugins);
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_NE(result.output.find("architecture 'test_uncut_net' declares Grad-CAM layer 'spot' but its model does "
                               "not implement ClassifierModel::forward_to_gradcam_layer"),
            std::string::npos)
      << result.output;
}
