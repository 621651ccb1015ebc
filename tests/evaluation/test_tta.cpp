// Test-time augmentation and ensembles of runs: the variants on tensors, the
// averaging checked against the model's own outputs on mirrored images, the
// pipeline and command-line checks, and `cerebra eval RUN RUN` on tiny runs.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <random>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "../../framework/src/training/tta.h"
#include "cerebra/data.h"
#include "cerebra/pipeline.h"
#include "cerebra/tta.h"
#include "run_support.h"
#include "test_support.h"

namespace fs = std::filesystem;
using cerebra::testing::cli;
using cerebra::testing::CommandResult;
using cerebra::testing::read_json;
using cerebra::testing::read_text;
using cerebra::testing::run_command;
using cerebra::testing::TempDir;
using cerebra::testing::write_text;
using nlohmann::json;

namespace {

// ---------------------------------------------------------------------------
// The variants on tensors.

// Row and column of the largest value of a (1, 1, H, W) tensor.
std::pair<long, long> peak(const torch::Tensor& image) {
  const long index = image.flatten().argmax().item<long>();
  const long width = image.size(3);
  return {index / width, index % width};
}

TEST(TtaVariants, FlipsMirrorTheWidthOrTheHeightAxis) {
  auto input = torch::arange(2 * 3 * 4 * 5, torch::kFloat).view({2, 3, 4, 5});
  auto flipped = cerebra::detail::tta_variant(input, "flip");
  auto vertical = cerebra::detail::tta_variant(input, "flip_vertical");
  for (long y = 0; y < 4; ++y) {
    for (long x = 0; x < 5; ++x) {
      EXPECT_EQ(flipped[1][2][y][x].item<float>(), input[1][2][y][4 - x].item<float>());
      EXPECT_EQ(vertical[1][2][y][x].item<float>(), input[1][2][3 - y][x].item<float>());
    }
  }
  // A channels-last batch stays channels-last, as the model expects it.
  auto channels_last = input.contiguous(torch::MemoryFormat::ChannelsLast);
  for (const auto& name : cerebra::tta_variants()) {
    auto out = cerebra::detail::tta_variant(channels_last, name);
    EXPECT_TRUE(out.is_contiguous(torch::MemoryFormat::ChannelsLast)) << name;
    EXPECT_EQ(out.sizes(), input.sizes()) << name;
  }
}

TEST(TtaVariants, RotationsTurnAsDisplayedAndZoomEnlarges) {
  // A bright spot right of the centre of a 33x33 image: a counter-clockwise
  // turn (as displayed, rows running down) lifts it, a clockwise one lowers it.
  auto image = torch::zeros({1, 1, 33, 33});
  image[0][0][16][28] = 1.0f;
  image[0][0][16][29] = 1.0f;
  const auto [up_row, up_col] = peak(cerebra::detail::tta_variant(image, "rotate+10"));
  const auto [down_row, down_col] = peak(cerebra::detail::tta_variant(image, "rotate-10"));
  EXPECT_LT(up_row, 16);
  EXPECT_GT(down_row, 16);
  // 12.5 pixels from the centre, 10 degrees: about 2.2 rows.
  EXPECT_NEAR(16 - up_row, 2, 1);
  EXPECT_NEAR(down_row - 16, 2, 1);
  EXPECT_NEAR(up_col, 28, 1);

  // A centred square of 11x11 pixels covers about 1.1^2 times the area after the zoom.
  auto square = torch::zeros({1, 1, 33, 33});
  square.slice(2, 11, 22).slice(3, 11, 22).fill_(1.0f);
  const double before = square.sum().item<double>();
  const double after = cerebra::detail::tta_variant(square, "zoom+10").sum().item<double>();
  EXPECT_NEAR(after / before, 1.21, 0.08);
  // The border repeats rather than fills: a constant image stays constant.
  auto flat = torch::full({1, 3, 20, 30}, 0.25f);
  for (const char* name : {"rotate+10", "rotate-10", "zoom+10"}) {
    EXPECT_TRUE(torch::allclose(cerebra::detail::tta_variant(flat, name), flat, 0, 1e-6)) << name;
  }
}

TEST(TtaVariants, UnknownAndRepeatedNamesAreRefusedWithTheKnownOnes) {
  EXPECT_TRUE(cerebra::parse_tta_list("none").empty());
  EXPECT_EQ(cerebra::parse_tta_list("flip,rotate-10"), (std::vector<std::string>{"flip", "rotate-10"}));
  const std::string unknown = cerebra::testing::error_message_of([] { cerebra::parse_tta_list("flip,flop"); });
  EXPECT_NE(unknown.find("unknown test-time augmentation 'flop'"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("flip, flip_vertical, rotate+10, rotate-10, zoom+10"), std::string::npos) << unknown;
  const std::string twice = cerebra::testing::error_message_of([] { cerebra::parse_tta_list("flip,flip"); });
  EXPECT_NE(twice.find("'flip' is listed twice"), std::string::npos) << twice;
}

TEST(TtaPipeline, ValidateNamesTheKnownVariants) {
  TempDir dir;
  write_text(dir.file("p.toml"), cerebra::testing::tiny_pipeline(1) + "\n[evaluation]\ntta = [\"flip\", \"flop\"]\n");
  const CommandResult bad = run_command(cli() + " validate " + dir.file("p.toml"));
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_NE(bad.output.find("'tta': \"flop\" is not one of flip, flip_vertical, rotate+10, rotate-10, zoom+10"),
            std::string::npos)
      << bad.output;
  EXPECT_NE(bad.output.find("p.toml:"), std::string::npos) << bad.output;

  write_text(dir.file("twice.toml"), cerebra::testing::tiny_pipeline(1) + "\n[evaluation]\ntta = [\"flip\", \"flip\"]\n");
  const CommandResult twice = run_command(cli() + " validate " + dir.file("twice.toml"));
  EXPECT_EQ(twice.exit_code, 2) << twice.output;
  EXPECT_NE(twice.output.find("'tta': 'flip' is listed twice"), std::string::npos) << twice.output;

  // --tta is checked before the run directory is opened.
  const CommandResult option = run_command(cli() + " eval " + dir.file("nowhere") + " --tta flip,mirror");
  EXPECT_EQ(option.exit_code, 2) << option.output;
  EXPECT_NE(option.output.find("unknown test-time augmentation 'mirror'"), std::string::npos) << option.output;
  EXPECT_NE(option.output.find("known: flip, flip_vertical"), std::string::npos) << option.output;
}

TEST(TtaPipeline, TheSplitSeedDefaultsToTheRunSeed) {
  TempDir dir;
  auto& registry = cerebra::testing::build_tree_host().registry();
  write_text(dir.file("p.toml"), cerebra::testing::tiny_pipeline(1));
  EXPECT_EQ(cerebra::split_seed(cerebra::load_pipeline(dir.file("p.toml"), {}, registry)), 7u);
  EXPECT_EQ(cerebra::split_seed(cerebra::load_pipeline(dir.file("p.toml"), {"run.seed=9"}, registry)), 9u);
  const auto held = cerebra::load_pipeline(dir.file("p.toml"), {"run.seed=9", "split.seed=7"}, registry);
  EXPECT_EQ(cerebra::split_seed(held), 7u);
  // Held, the split is the one the default seed gives; the run seed alone moves it.
  auto test_ids = [&](const cerebra::Pipeline& pipeline) {
    std::vector<std::string> ids;
    for (const auto& sample : cerebra::split_pipeline(pipeline, registry).split.test) ids.push_back(sample.id);
    return ids;
  };
  const auto base = test_ids(cerebra::load_pipeline(dir.file("p.toml"), {}, registry));
  EXPECT_EQ(test_ids(held), base);
  EXPECT_NE(test_ids(cerebra::load_pipeline(dir.file("p.toml"), {"run.seed=9"}, registry)), base);
}

// ---------------------------------------------------------------------------
// Runs through the command line.

// Trains tiny_pipeline(1) with `options` into `dir`/`name`; the run directory.
fs::path train(const TempDir& dir, const std::string& name, const std::string& options = "") {
  write_text(dir.file("tiny.toml"), cerebra::testing::tiny_pipeline(1));
  const CommandResult result =
      run_command(cli() + " run " + dir.file("tiny.toml") + " --set run.output=" + dir.file(name) + " " + options);
  EXPECT_EQ(result.exit_code, 0) << result.output;
  return result.exit_code == 0 ? cerebra::testing::only_run(dir.file(name)) : fs::path();
}

std::vector<std::string> fields_of(const std::string& line) {
  std::vector<std::string> fields(1);
  for (char c : line) {
    if (c == ',') fields.emplace_back(); else fields.back() += c;
  }
  return fields;
}

// file -> probabilities of a predictions CSV (file,true_class,predicted_class,p_...).
std::map<std::string, std::vector<double>> probabilities_of(const fs::path& csv) {
  std::map<std::string, std::vector<double>> out;
  std::istringstream in(read_text(csv));
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto fields = fields_of(line);
    std::vector<double>& row = out[fs::path(fields[0]).filename().string()];
    for (std::size_t i = 3; i < fields.size(); ++i) row.push_back(std::stod(fields[i]));
  }
  return out;
}

// Noise images (no symmetry, so a mirror changes what the model sees) under
// `folder`/no and `folder`/yes, and their left-right mirrors under `mirror`.
void write_mirrored_images(const fs::path& folder, const fs::path& mirror) {
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> value(0, 255);
  for (int i = 0; i < 6; ++i) {
    const std::string name = i % 2 ? "yes" : "no";
    cv::Mat image(32, 32, CV_8UC1);
    for (int y = 0; y < 32; ++y) {
      for (int x = 0; x < 32; ++x) image.at<std::uint8_t>(y, x) = static_cast<std::uint8_t>(value(rng) * x / 32);
    }
    cv::Mat flipped;
    cv::flip(image, flipped, 1);
    fs::create_directories(folder / name);
    fs::create_directories(mirror / name);
    ASSERT_TRUE(cv::imwrite((folder / name / fmt::format("{}.png", i)).string(), image));
    ASSERT_TRUE(cv::imwrite((mirror / name / fmt::format("{}.png", i)).string(), flipped));
  }
}

TEST(TtaRun, FlipAveragesTheImageWithItsMirror) {
  TempDir dir;
  const fs::path run = train(dir, "runs");
  ASSERT_FALSE(run.empty());
  const fs::path images = dir.path() / "images", mirrored = dir.path() / "mirrored";
  write_mirrored_images(images, mirrored);

  auto eval = [&](const fs::path& data, const std::string& tta) {
    const CommandResult result = run_command(cli() + " eval " + run.string() + " --data " + data.string() + tta);
    EXPECT_EQ(result.exit_code, 0) << result.output;
    return probabilities_of(run / "eval" / data.filename() / "predictions.csv");
  };
  const auto plain = eval(images, "");
  const auto mirror = eval(mirrored, " --tta none");
  const auto averaged = eval(images, " --tta flip");
  EXPECT_EQ(read_json(run / "eval" / "images" / "metrics.json")["tta"], json::array({"flip"}));
  ASSERT_EQ(plain.size(), 6u);
  double largest_change = 0;
  for (const auto& [file, p] : plain) {
    ASSERT_EQ(averaged.at(file).size(), 2u);
    for (std::size_t c = 0; c < 2; ++c) {
      // 6-decimal CSV values: the mean of two rounded figures is within 1e-6.
      EXPECT_NEAR(averaged.at(file)[c], (p[c] + mirror.at(file)[c]) / 2, 1e-5) << file;
      largest_change = std::max(largest_change, std::abs(p[c] - mirror.at(file)[c]));
    }
  }
  // The check above means something only where the mirror changes the output.
  EXPECT_GT(largest_change, 1e-3);
}

TEST(TtaRun, ThePipelinesTtaAppliesToTheFinalEvaluationOnly) {
  TempDir dir;
  const fs::path run = train(dir, "runs", "--set 'evaluation.tta=[\"flip\", \"flip_vertical\"]'");
  ASSERT_FALSE(run.empty());
  const json summary = read_json(run / "summary.json");
  EXPECT_EQ(summary["tta"], json::array({"flip", "flip_vertical"}));

  // eval follows the run's pipeline: the figures and predictions of the summary.
  const CommandResult own = run_command(cli() + " eval " + run.string());
  ASSERT_EQ(own.exit_code, 0) << own.output;
  EXPECT_NE(own.output.find("test-time augmentation: flip,flip_vertical"), std::string::npos) << own.output;
  json metrics = read_json(run / "eval" / "metrics.json");
  EXPECT_EQ(metrics["tta"], summary["tta"]);
  EXPECT_NEAR(metrics["loss"].get<double>(), summary["test"]["loss"].get<double>(), 1e-6);
  EXPECT_EQ(read_text(run / "eval" / "predictions.csv"), read_text(run / "eval" / "predictions_test.csv"));

  // --tta none: other probabilities than the summary's.
  const CommandResult none = run_command(cli() + " eval " + run.string() + " --tta none");
  ASSERT_EQ(none.exit_code, 0) << none.output;
  EXPECT_EQ(read_json(run / "eval" / "metrics.json")["tta"], json::array());
  EXPECT_NE(read_text(run / "eval" / "predictions.csv"), read_text(run / "eval" / "predictions_test.csv"));

  // The epoch's validation figures are those without variants; the summary's have them.
  const CommandResult val = run_command(cli() + " eval " + run.string() + " --split val --tta none --json 2>/dev/null");
  ASSERT_EQ(val.exit_code, 0) << val.output;
  const double plain_val_loss = json::parse(val.output)["loss"].get<double>();
  const auto epochs = cerebra::testing::read_metrics(run);
  ASSERT_EQ(epochs.size(), 1u);
  EXPECT_NEAR(epochs[0]["val_loss"].get<double>(), plain_val_loss, 1e-6);
  EXPECT_GT(std::abs(summary["val"]["loss"].get<double>() - plain_val_loss), 1e-6);
}

// ---------------------------------------------------------------------------
// Ensembles.

TEST(Ensemble, AveragesTheMembersAndReportsEach) {
  TempDir dir;
  const fs::path a = train(dir, "a");
  // Another training seed, the split held at the first run's.
  const fs::path b = train(dir, "b", "--set run.seed=8 --set split.seed=7");
  ASSERT_FALSE(a.empty());
  ASSERT_FALSE(b.empty());
  ASSERT_EQ(read_text(a / "split.csv"), read_text(b / "split.csv"));

  const CommandResult result = run_command(cli() + " eval " + a.string() + " " + b.string() + " --json 2>/dev/null");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const json out = json::parse(result.output);
  ASSERT_EQ(out["members"].size(), 2u);
  EXPECT_EQ(out["split"], "test");
  EXPECT_EQ(out["members"][0]["run"], a.string());
  EXPECT_EQ(out["members"][1]["run"], b.string());

  // Each member alone is what its own training measured on these images.
  const fs::path runs[] = {a, b};
  std::map<std::string, std::vector<double>> sum;
  std::map<std::string, std::string> truth;
  for (std::size_t k = 0; k < 2; ++k) {
    const json summary = read_json(runs[k] / "summary.json");
    EXPECT_EQ(out["members"][k]["images"], summary["test"]["images"]);
    EXPECT_DOUBLE_EQ(out["members"][k]["accuracy"].get<double>(),
                     summary["test"]["metrics"]["accuracy"]["value"].get<double>());
    std::istringstream in(read_text(runs[k] / "eval" / "predictions_test.csv"));
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line)) {
      const auto fields = fields_of(line);
      truth[fields[0]] = fields[1];
      auto& row = sum[fields[0]];
      row.resize(2, 0.0);
      for (std::size_t c = 0; c < 2; ++c) row[c] += std::stod(fields[3 + c]) / 2;
    }
  }
  // The ensemble is the mean of the two runs' probabilities, image by image.
  const std::vector<std::string> classes{"no", "yes"};
  std::size_t correct = 0;
  std::map<std::string, std::pair<int, int>> per_class;  // class -> (right, images)
  double loss = 0;
  for (const auto& [file, p] : sum) {
    const std::string predicted = p[1] > p[0] ? "yes" : "no";
    correct += predicted == truth[file];
    per_class[truth[file]].first += predicted == truth[file];
    per_class[truth[file]].second += 1;
    loss -= std::log(p[truth[file] == "yes" ? 1 : 0]);
  }
  const json& ensemble = out["ensemble"];
  EXPECT_EQ(ensemble["images"].get<std::size_t>(), sum.size());
  EXPECT_DOUBLE_EQ(ensemble["accuracy"].get<double>(), static_cast<double>(correct) / static_cast<double>(sum.size()));
  EXPECT_DOUBLE_EQ(ensemble["metrics"]["accuracy"]["value"].get<double>(), ensemble["accuracy"].get<double>());
  EXPECT_NEAR(ensemble["loss"].get<double>(), loss / static_cast<double>(sum.size()), 1e-4);
  for (const auto& name : classes) {
    EXPECT_DOUBLE_EQ(ensemble["per_class_recall"][name].get<double>(),
                     static_cast<double>(per_class[name].first) / per_class[name].second)
        << name;
  }

  // The table names both runs and the ensemble.
  const CommandResult table = run_command(cli() + " eval " + a.string() + " " + b.string());
  ASSERT_EQ(table.exit_code, 0) << table.output;
  for (const std::string& expected : {a.string(), b.string(), std::string("ensemble (mean probability)"),
                                      std::string("recall"), std::string("accuracy")}) {
    EXPECT_NE(table.output.find(expected), std::string::npos) << expected << "\n" << table.output;
  }
}

TEST(Ensemble, RunsWithOtherTestImagesOrClassesAreRefusedByName) {
  TempDir dir;
  const fs::path a = train(dir, "a");
  ASSERT_FALSE(a.empty());

  // The same run with one test image moved to train: its test split differs.
  const fs::path moved = dir.path() / "moved";
  fs::copy(a, moved, fs::copy_options::recursive);
  std::string split = read_text(a / "split.csv");
  const std::size_t test_row = split.find(",test,");
  ASSERT_NE(test_row, std::string::npos);
  split.replace(test_row, 6, ",train,");
  write_text((moved / "split.csv").string(), split);
  const CommandResult other_split = run_command(cli() + " eval " + a.string() + " " + moved.string());
  EXPECT_EQ(other_split.exit_code, 1) << other_split.output;
  EXPECT_NE(other_split.output.find(moved.string() + ": its test split (split.csv) differs from that of " + a.string()),
            std::string::npos)
      << other_split.output;
  EXPECT_NE(other_split.output.find("1 only in " + a.string()), std::string::npos) << other_split.output;

  // The same run with its classes in the other order.
  const fs::path swapped = dir.path() / "swapped";
  fs::copy(a, swapped, fs::copy_options::recursive);
  json summary = read_json(a / "summary.json");
  summary["classes"] = json::array({"yes", "no"});
  write_text((swapped / "summary.json").string(), summary.dump(2));
  const CommandResult other_classes = run_command(cli() + " eval " + a.string() + " " + swapped.string());
  EXPECT_EQ(other_classes.exit_code, 1) << other_classes.output;
  EXPECT_NE(other_classes.output.find(swapped.string() + ": its classes (yes, no) differ from those of " + a.string() +
                                      " (no, yes)"),
            std::string::npos)
      << other_classes.output;
}

}  // namespace
