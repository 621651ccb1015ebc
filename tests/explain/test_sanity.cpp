// The sanity checks on a small CNN trained here on synthetic slices, whose
// lesions are known: its Grad-CAM maps must point at the lesions far above
// chance and must change when the model is randomised (Adebayo et al. 2018).
#include <gtest/gtest.h>

#include <filesystem>

#include "cerebra/explain_sanity.h"
#include "run_support.h"
#include "test_support.h"

namespace fs = std::filesystem;
using namespace cerebra;
using cerebra::testing::cli;
using cerebra::testing::first_run;
using cerebra::testing::read_json;
using cerebra::testing::run_command;
using cerebra::testing::TempDir;
using cerebra::testing::write_text;

namespace {

// Bright lesions of a fair size, flips and rotations so the network must
// find a lesion wherever it is: 12 epochs (about 20 s on two cores) reach
// over 0.9 test accuracy. Each test trains it again (ctest runs every test
// in its own process), so there are two.
const char* kPipeline = R"([run]
name = "lesions"
seed = 7
threads = 2

[dataset]
type = "synthetic"
classes = 2
count = 320
image_size = 64
lesion_contrast = 0.8
faint_fraction = 0
lesion_scale = 1.3
noise = 0.02

[[preprocess]]
type = "resize"
size = 64

[[augment]]
type = "random_flip"

[[augment]]
type = "random_rotate"
degrees = 15

[model]
type = "cnn"
input_size = 64

[training]
epochs = 12
batch_size = 16

[optimizer]
type = "adam"
learning_rate = 0.002
)";

class ExplainSanity : public ::testing::Test {
 protected:
  // No assertion here: a failure in SetUpTestSuite makes GoogleTest skip the
  // tests, which ctest counts as passed. SetUp fails each test instead.
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    problem_ = new std::string();
    write_text(dir_->file("lesions.toml"), kPipeline);
    auto result = run_command(cli() + " run " + dir_->file("lesions.toml") + " --set run.output=" + dir_->file("runs"));
    if (result.exit_code != 0) {
      *problem_ = "training failed: " + result.output;
      return;
    }
    run_dir_ = new std::string(first_run(dir_->file("runs")).string());
    try {
      run_ = new TrainedRun(*run_dir_, cerebra::testing::build_tree_host().registry());
      SanityOptions options;
      options.images = 48;  // the whole test split
      report_ = new SanityReport(sanity_check(*run_, options));
    } catch (const std::exception& error) {
      *problem_ = std::string("the sanity check failed: ") + error.what();
    }
  }
  static void TearDownTestSuite() {
    delete report_;
    delete run_;
    delete run_dir_;
    delete problem_;
    delete dir_;
  }
  void SetUp() override { ASSERT_TRUE(problem_->empty()) << *problem_; }

  static TempDir* dir_;
  static std::string* problem_;
  static std::string* run_dir_;
  static TrainedRun* run_;
  static SanityReport* report_;
};

TempDir* ExplainSanity::dir_ = nullptr;
std::string* ExplainSanity::problem_ = nullptr;
std::string* ExplainSanity::run_dir_ = nullptr;
TrainedRun* ExplainSanity::run_ = nullptr;
SanityReport* ExplainSanity::report_ = nullptr;

}  // namespace

TEST_F(ExplainSanity, MapsChangeWhenTheModelIsRandomisedFromTheHeadDown) {
  EXPECT_EQ(report_->source, "test split");
  EXPECT_EQ(report_->images, 48u);
  ASSERT_EQ(report_->steps.size(), 4u);
  EXPECT_EQ(report_->steps[0].groups, std::vector<std::string>{"head"});
  EXPECT_EQ(report_->steps[3].groups, (std::vector<std::string>{"head", "block3", "block2", "block1"}));
  for (const auto& step : report_->steps) {
    SCOPED_TRACE(step.groups.back());
    // Trained maps against themselves score 1; a map that ignored what the
    // model learned would stay near it.
    EXPECT_LT(step.spearman, 0.75);
    EXPECT_LT(step.ssim, 0.85);
  }
  EXPECT_LT(report_->steps.back().spearman, 0.3);  // nothing learned is left

  // The run's own model is back as it was: the test split scores as in summary.json.
  const auto summary = read_json(fs::path(*run_dir_) / "summary.json");
  const EvaluationReport again = run_->evaluate_split("test");
  EXPECT_DOUBLE_EQ(headline(again.metrics["accuracy"]), summary["test"]["metrics"]["accuracy"]["value"].get<double>());
  EXPECT_NEAR(again.loss, summary["test"]["loss"].get<double>(), 1e-9);
}

TEST_F(ExplainSanity, TrainedMapsPointAtTheLesionFarAboveChance) {
  ASSERT_TRUE(report_->trained);
  const LocalisationScore& trained = *report_->trained;
  EXPECT_EQ(trained.images, 24u);  // the test split's images with a lesion
  EXPECT_GT(trained.energy_in_lesion, 2.5 * trained.energy_chance);
  EXPECT_GT(trained.pointing_hits, 0.6);
  EXPECT_GT(trained.pointing_hits, 3 * trained.pointing_chance);
  // A fully randomised model's maps do not.
  ASSERT_TRUE(report_->steps.back().localisation);
  EXPECT_LT(report_->steps.back().localisation->pointing_hits, trained.pointing_hits - 0.3);
}
