// Bad inputs a run, `validate` and `predict` must name (issue 16): classes and
// splits left without a readable image, dangling and looping links, overrides
// that cannot apply, too little data, damaged checkpoints.
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>

#include <opencv2/imgcodecs.hpp>

#include "run_support.h"
#include "test_support.h"

namespace fs = std::filesystem;
using cerebra::testing::cli;
using cerebra::testing::only_run;
using cerebra::testing::read_metrics;
using cerebra::testing::read_text;
using cerebra::testing::run_command;
using cerebra::testing::TempDir;
using cerebra::testing::write_text;

namespace {

// `count` small gray PNGs in `folder`, of a brightness that tells the class.
void write_images(const fs::path& folder, int count, int brightness) {
  fs::create_directories(folder);
  cv::RNG rng(static_cast<std::uint64_t>(brightness) * 7919u + static_cast<std::uint64_t>(count));
  for (int i = 0; i < count; ++i) {
    cv::Mat image(32, 32, CV_8UC1);
    rng.fill(image, cv::RNG::UNIFORM, brightness, brightness + 40);
    ASSERT_TRUE(cv::imwrite((folder / ("img" + std::to_string(i) + ".png")).string(), image));
  }
}

// `count` files with an image name that hold no image.
void write_corrupt(const fs::path& folder, int count) {
  for (int i = 0; i < count; ++i) write_text((folder / ("bad" + std::to_string(i) + ".png")).string(), "not a png");
}

// A one-epoch run of the study's CNN at 32x32 over `dataset` (a [dataset] table's body).
std::string pipeline_for(const std::string& dataset, const std::string& output, const std::string& on_bad_file) {
  return R"([run]
name = "bad"
seed = 7
threads = 1
output = ")" + output + R"("

[dataset]
)" + dataset + R"(

[split]
train = 0.4
val = 0.3
test = 0.3
group_by = "none"

[loader]
on_bad_file = ")" + on_bad_file + R"("

[[preprocess]]
type = "resize"
size = 32

[model]
type = "cnn"
input_size = 32

[training]
epochs = 1
batch_size = 8
)";
}

std::string image_folder(const fs::path& root) { return "type = \"image_folder\"\nroot = \"" + root.string() + "\""; }

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// The images per split that the run's "data:" line says it uses.
int images_used(const std::string& log) {
  std::smatch match;
  const std::regex line(R"(data: (\d+) train, (\d+) val, (\d+) test images)");
  if (!std::regex_search(log, match, line)) return -1;
  return std::stoi(match[1]) + std::stoi(match[2]) + std::stoi(match[3]);
}

}  // namespace

TEST(BadInputs, AClassWithNoReadableImageStopsTheRunBeforeTraining) {
  TempDir dir;
  write_corrupt(dir.path() / "data" / "no", 6);
  write_images(dir.path() / "data" / "yes", 12, 150);
  write_text(dir.file("p.toml"), pipeline_for(image_folder(dir.path() / "data"), dir.file("runs"), "skip"));
  auto result = run_command(cli() + " run " + dir.file("p.toml"));
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_TRUE(has(result.output, "class 'no' has no usable image: all 6 of its files were skipped as unreadable"))
      << result.output;
  EXPECT_TRUE(has(result.output, (dir.path() / "data" / "no" / "bad0.png").string())) << result.output;
  EXPECT_FALSE(has(result.output, "test (")) << result.output;  // no figures reported
  EXPECT_TRUE(!fs::exists(dir.file("runs")) || fs::is_empty(dir.file("runs")));  // no stub run left
}

// The four-class layout fixes the test split (Testing/), so a class can lose
// its test images alone.
TEST(BadInputs, ATestSplitWithoutAClassIsAnErrorAndABadTestFileStopsBeforeTraining) {
  TempDir dir;
  const fs::path root = dir.path() / "four";
  const char* classes[] = {"glioma_tumor", "meningioma_tumor", "no_tumor", "pituitary_tumor"};
  for (int c = 0; c < 4; ++c) {
    write_images(root / "Training" / classes[c], 8, 30 + 50 * c);
    if (c == 0) write_corrupt(root / "Testing" / classes[c], 2);
    else write_images(root / "Testing" / classes[c], 2, 30 + 50 * c);
  }
  const std::string dataset = "type = \"brain_tumor_4class\"\nroot = \"" + root.string() + "\"";
  write_text(dir.file("skip.toml"), pipeline_for(dataset, dir.file("runs"), "skip"));
  auto skipped = run_command(cli() + " run " + dir.file("skip.toml"));
  EXPECT_EQ(skipped.exit_code, 1) << skipped.output;
  EXPECT_TRUE(has(skipped.output, "the test split has no usable image of class 'glioma_tumor': its 2 file(s) of "
                                  "that class were skipped as unreadable"))
      << skipped.output;

  write_text(dir.file("stop.toml"), pipeline_for(dataset, dir.file("runs"), "stop"));
  auto stopped = run_command(cli() + " run " + dir.file("stop.toml"));
  EXPECT_EQ(stopped.exit_code, 1) << stopped.output;
  EXPECT_TRUE(has(stopped.output, (root / "Testing" / "glioma_tumor" / "bad0.png").string() + ": not a readable image"))
      << stopped.output;
  EXPECT_FALSE(has(stopped.output, "epoch 1")) << stopped.output;  // found before any training
}

TEST(BadInputs, DanglingAndLoopingLinksAreUnreadableFilesWithTheirReason) {
  TempDir dir;
  const fs::path data = dir.path() / "data";
  write_images(data / "no", 10, 40);
  write_images(data / "yes", 10, 150);
  fs::create_symlink(dir.path() / "gone.png", data / "no" / "dangling.png");
  fs::create_symlink(data / "yes" / "loop.png", data / "yes" / "loop.png");
  write_text(dir.file("skip.toml"), pipeline_for(image_folder(data), dir.file("runs"), "skip"));
  auto skipped = run_command(cli() + " run " + dir.file("skip.toml"));
  ASSERT_EQ(skipped.exit_code, 0) << skipped.output;
  const std::string listed = read_text(only_run(dir.file("runs")) / "skipped.csv");
  EXPECT_TRUE(has(listed, "dangling symbolic link (to " + (dir.path() / "gone.png").string() + ")")) << listed;
  EXPECT_TRUE(has(listed, "looping symbolic link")) << listed;
  EXPECT_EQ(images_used(skipped.output), 20) << skipped.output;  // the "data:" line counts what is used

  write_text(dir.file("stop.toml"), pipeline_for(image_folder(data), dir.file("stopped"), "stop"));
  auto stopped = run_command(cli() + " run " + dir.file("stop.toml"));
  EXPECT_EQ(stopped.exit_code, 1) << stopped.output;
  // The first bad file in the train split's order stops the run, whichever it is.
  EXPECT_TRUE(has(stopped.output, (data / "no" / "dangling.png").string() + ": dangling symbolic link") ||
              has(stopped.output, (data / "yes" / "loop.png").string() + ": looping symbolic link"))
      << stopped.output;
  EXPECT_TRUE(has(stopped.output, "on_bad_file = \"skip\"")) << stopped.output;
}

TEST(BadInputs, PredictGivesDanglingAndLoopingLinksTheirOwnErrorLine) {
  TempDir dir;
  const fs::path run = cerebra::testing::train_tiny_run(dir, 1);
  const fs::path images = dir.path() / "images";
  write_images(images, 2, 100);
  fs::create_symlink(images / "loop.png", images / "loop.png");
  fs::create_symlink(dir.path() / "gone.png", images / "dangling.png");

  auto folder = run_command(cli() + " predict " + run.string() + " " + images.string() + " --csv 2>/dev/null");
  ASSERT_EQ(folder.exit_code, 0) << folder.output;
  EXPECT_TRUE(has(folder.output, (images / "loop.png").string() + ",,,,looping symbolic link")) << folder.output;
  EXPECT_TRUE(has(folder.output, (images / "dangling.png").string() + ",,,,dangling symbolic link")) << folder.output;
  EXPECT_TRUE(std::regex_search(folder.output, std::regex("img0\\.png,(no|yes),[01]\\.\\d+"))) << folder.output;

  auto named = run_command(cli() + " predict " + run.string() + " " + (images / "loop.png").string() + " --csv");
  EXPECT_EQ(named.exit_code, 1) << named.output;
  EXPECT_TRUE(has(named.output, "looping symbolic link")) << named.output;
  EXPECT_FALSE(has(named.output, "no such file")) << named.output;
}

TEST(BadInputs, ResumeTakesTheSettingsThatMayChangeAndNamesTheOthers) {
  TempDir dir;
  const fs::path run = cerebra::testing::train_tiny_run(dir, 1);
  const std::string pipeline = read_text(run / "pipeline.toml");

  auto refused = run_command(cli() + " run --resume " + run.string() + " --set model.input_size=64");
  EXPECT_EQ(refused.exit_code, 2) << refused.output;
  EXPECT_TRUE(has(refused.output, "--set model.input_size=64: 'model.input_size' cannot change on --resume"))
      << refused.output;
  EXPECT_TRUE(has(refused.output, "training.epochs")) << refused.output;  // names what may change
  EXPECT_EQ(read_text(run / "pipeline.toml"), pipeline);
  EXPECT_EQ(read_metrics(run).size(), 1u);

  auto extended = run_command(cli() + " run --resume " + run.string() +
                              " --set training.epochs=2 --set loader.on_bad_file=skip");
  ASSERT_EQ(extended.exit_code, 0) << extended.output;
  EXPECT_EQ(read_metrics(run).size(), 2u);
  EXPECT_TRUE(has(read_text(run / "pipeline.toml"), "epochs = 2")) << read_text(run / "pipeline.toml");
}

TEST(BadInputs, OverridesAndValidateNameWhatIsWrong) {
  TempDir dir;
  write_text(dir.file("p.toml"), cerebra::testing::tiny_pipeline(1));
  auto typo = run_command(cli() + " validate " + dir.file("p.toml") + " --set trainig.epochs=3");
  EXPECT_EQ(typo.exit_code, 2) << typo.output;
  EXPECT_TRUE(has(typo.output, "--set trainig.epochs=3: unknown section 'trainig'")) << typo.output;

  auto huge = run_command(cli() + " validate " + dir.file("p.toml") + " --set training.epochs=99999999999999999999");
  EXPECT_EQ(huge.exit_code, 2) << huge.output;
  EXPECT_TRUE(has(huge.output, "--set training.epochs=99999999999999999999: number out of range")) << huge.output;
  EXPECT_FALSE(has(huge.output, "found string")) << huge.output;
  write_text(dir.file("huge.toml"), cerebra::testing::tiny_pipeline(1) + "\n[evaluation]\nbootstrap = 99999999999999999999\n");
  auto in_file = run_command(cli() + " validate " + dir.file("huge.toml"));
  EXPECT_EQ(in_file.exit_code, 2) << in_file.output;
  EXPECT_TRUE(has(in_file.output, "number out of range")) << in_file.output;

  write_text(dir.file("missing.toml"), "[dataset]\ntype = \"br35h\"\nroot = \"no-such-br35h\"\n\n[model]\ntype = \"cnn\"\n");
  auto missing = run_command("CEREBRA_DATA=" + dir.file("data") + " " + cli() + " validate " + dir.file("missing.toml"));
  EXPECT_EQ(missing.exit_code, 2) << missing.output;
  EXPECT_TRUE(has(missing.output, dir.file("data") + "/no-such-br35h: Br35H root")) << missing.output;
  EXPECT_TRUE(has(missing.output, "$CEREBRA_DATA is " + dir.file("data"))) << missing.output;
}

TEST(BadInputs, TooFewImagesAskForMoreImagesNotALargerSplit) {
  TempDir dir;
  write_text(dir.file("p.toml"), cerebra::testing::tiny_pipeline(1));
  auto result = run_command(cli() + " run " + dir.file("p.toml") + " --set dataset.count=1 --set run.output=" +
                            dir.file("runs"));
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_TRUE(has(result.output, "raise [dataset] count")) << result.output;
  EXPECT_FALSE(has(result.output, "raise [split] val")) << result.output;
}

TEST(BadInputs, ADamagedCheckpointIsNamedWithItsCauseInClosedParentheses) {
  TempDir dir;
  const fs::path run = cerebra::testing::train_tiny_run(dir, 1);
  write_text((run / "checkpoints" / "best.pt").string(), "not a checkpoint");
  auto result = run_command(cli() + " eval " + run.string());
  EXPECT_EQ(result.exit_code, 1) << result.output;
  const std::string marker = "best.pt: cannot read checkpoint (";
  const auto at = result.output.find(marker);
  ASSERT_NE(at, std::string::npos) << result.output;
  const std::string line = result.output.substr(at, result.output.find('\n', at) - at);
  EXPECT_EQ(std::count(line.begin(), line.end(), '('), std::count(line.begin(), line.end(), ')')) << line;
}
