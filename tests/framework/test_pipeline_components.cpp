// Pipelines checked against what their real components declare: the sizes the
// stages give and the architecture takes, and the metrics' own parameters.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cerebra/pipeline.h"
#include "run_support.h"
#include "test_support.h"

using namespace cerebra;
using cerebra::testing::TempDir;
using cerebra::testing::write_text;

namespace {

const Registry& registry() { return cerebra::testing::build_tree_host().registry(); }

// The diagnostics of `text` as a pipeline file (none when it is valid).
std::vector<Diagnostic> problems(const TempDir& dir, const std::string& text) {
  write_text(dir.file("p.toml"), text);
  try {
    load_pipeline(dir.file("p.toml"), {}, registry());
  } catch (const ConfigError& error) {
    return error.diagnostics();
  }
  return {};
}

std::string all(const std::vector<Diagnostic>& diagnostics) {
  std::string text;
  for (const auto& d : diagnostics) text += d.to_string() + "\n";
  return text;
}

std::string with_model(const std::string& model, const std::string& stages) {
  return "[dataset]\ntype = \"synthetic\"\n\n" + stages + "\n[model]\n" + model + "\n";
}

const char* kResize128 = "[[preprocess]]\ntype = \"resize\"\nsize = 128\n";

}  // namespace

TEST(PipelineSizes, AResizeTheCnnCannotTakeFailsNamingStageAndArchitecture) {
  TempDir dir;
  auto diagnostics = problems(dir, with_model("type = \"cnn\"", kResize128));
  ASSERT_EQ(diagnostics.size(), 1u) << all(diagnostics);
  const Diagnostic& d = diagnostics[0];
  EXPECT_EQ(d.where.file, dir.file("p.toml"));
  EXPECT_EQ(d.where.line, 4);  // the [[preprocess]] table
  EXPECT_EQ(d.message, "[[preprocess]] #1 (resize): gives 128x128 images, but [model] (cnn, " + dir.file("p.toml") +
                           ":8:1) takes exactly 64x64 inputs (set by its input_size parameter)");
}

TEST(PipelineSizes, MatchingSizesAndUnknownSizesPass) {
  TempDir dir;
  EXPECT_TRUE(problems(dir, with_model("type = \"cnn\"", "[[preprocess]]\ntype = \"resize\"\nsize = 64\n")).empty());
  EXPECT_TRUE(problems(dir, with_model("type = \"cnn\"\ninput_size = 128", kResize128)).empty());
  // crop_brain's output depends on the image: nothing to check.
  EXPECT_TRUE(problems(dir, with_model("type = \"cnn\"", "[[preprocess]]\ntype = \"resize\"\nsize = 128\n"
                                                          "[[preprocess]]\ntype = \"crop_brain\"\n"))
                  .empty());
  EXPECT_TRUE(problems(dir, with_model("type = \"cnn\"", "")).empty());
}

TEST(PipelineSizes, TheStageThatSetTheSizeIsNamedThroughSizeKeepingStages) {
  TempDir dir;
  auto diagnostics = problems(dir, with_model("type = \"cnn\"", std::string(kResize128) +
                                                                     "[[preprocess]]\ntype = \"normalize\"\n"
                                                                     "[[augment]]\ntype = \"random_flip\"\n"));
  ASSERT_EQ(diagnostics.size(), 1u) << all(diagnostics);
  EXPECT_EQ(diagnostics[0].where.line, 4);
  EXPECT_TRUE(diagnostics[0].message.rfind("[[preprocess]] #1 (resize): gives 128x128", 0) == 0) << all(diagnostics);

  // A random crop after the resize decides the size the network sees.
  diagnostics = problems(dir, with_model("type = \"cnn\"", std::string(kResize128) +
                                                             "[[augment]]\ntype = \"random_crop\"\nsize = 96\n"));
  ASSERT_EQ(diagnostics.size(), 1u) << all(diagnostics);
  EXPECT_EQ(diagnostics[0].where.line, 7);
  EXPECT_TRUE(diagnostics[0].message.rfind("[[augment]] #1 (random_crop): gives 96x96", 0) == 0) << all(diagnostics);
}

TEST(PipelineSizes, MinimumSizesOfTheTorchvisionArchitectures) {
  TempDir dir;
  auto resize = [](int size) { return "[[preprocess]]\ntype = \"resize\"\nsize = " + std::to_string(size) + "\n"; };
  EXPECT_TRUE(problems(dir, with_model("type = \"vgg16\"", resize(32))).empty());
  auto vgg = problems(dir, with_model("type = \"vgg16\"", resize(31)));
  ASSERT_EQ(vgg.size(), 1u) << all(vgg);
  EXPECT_NE(vgg[0].message.find("takes at least 32x32 inputs"), std::string::npos) << all(vgg);

  EXPECT_TRUE(problems(dir, with_model("type = \"resnet50\"", resize(16))).empty());

  // The auxiliary head needs 299; without it, 75 (torchvision's minimum).
  auto inception = problems(dir, with_model("type = \"inception_v3\"", resize(224)));
  ASSERT_EQ(inception.size(), 1u) << all(inception);
  EXPECT_NE(inception[0].message.find("takes at least 299x299 inputs (for the auxiliary head; 75x75 with "
                                      "aux_logits = false)"),
            std::string::npos)
      << all(inception);
  EXPECT_TRUE(problems(dir, with_model("type = \"inception_v3\"\naux_logits = false", resize(75))).empty());
  EXPECT_EQ(problems(dir, with_model("type = \"inception_v3\"\naux_logits = false", resize(74))).size(), 1u);
}

TEST(PipelineSizes, OverridesAreCheckedToo) {
  TempDir dir;
  write_text(dir.file("p.toml"), with_model("type = \"cnn\"", "[[preprocess]]\ntype = \"resize\"\nsize = 64\n"));
  EXPECT_NO_THROW(load_pipeline(dir.file("p.toml"), {}, registry()));
  EXPECT_THROW(load_pipeline(dir.file("p.toml"), {"preprocess.0.size=128"}, registry()), ConfigError);
  EXPECT_NO_THROW(load_pipeline(dir.file("p.toml"), {"preprocess.0.size=128", "model.input_size=128"}, registry()));
}

TEST(PipelineComponents, StagesInTheWrongSectionAndRefusedParametersAreLocated) {
  TempDir dir;
  auto diagnostics = problems(dir, with_model("type = \"cnn\"", "[[preprocess]]\ntype = \"random_flip\"\n"
                                                                  "[[augment]]\ntype = \"normalize\"\n"
                                                                  "preset = \"custom\"\n"));
  ASSERT_EQ(diagnostics.size(), 2u) << all(diagnostics);
  EXPECT_EQ(diagnostics[0].where.line, 4);
  EXPECT_EQ(diagnostics[0].message,
            "[[preprocess]] #1 (random_flip): a random stage in the wrong section; put it under [[augment]]");
  EXPECT_EQ(diagnostics[1].where.line, 6);
  EXPECT_EQ(diagnostics[1].message,
            "[[augment]] #1 (normalize): normalize: preset = \"custom\" needs both mean and std lists");
}

// ---------------------------------------------------------------------------
// Metric parameters: [evaluation.NAME] tables.

namespace {
const char* kMetrics = R"([dataset]
type = "synthetic"

[model]
type = "cnn"

[evaluation]
metrics = ["accuracy", "f1", "calibration"]
bootstrap = 100

[evaluation.f1]
average = "weighted"
bootstrap = 0

[evaluation.calibration]
bins = 10
)";
}  // namespace

TEST(MetricParameters, TablesSetTheParametersOfListedMetrics) {
  TempDir dir;
  write_text(dir.file("p.toml"), kMetrics);
  Pipeline pipeline = load_pipeline(dir.file("p.toml"), {}, registry());
  ASSERT_EQ(pipeline.metrics.size(), 3u);
  EXPECT_EQ(pipeline.metrics[0].name, "accuracy");
  EXPECT_TRUE(pipeline.metrics[0].parameters.values().empty());
  EXPECT_EQ(pipeline.metrics[1].name, "f1");
  EXPECT_EQ(pipeline.metrics[1].parameters.get_string("average"), "weighted");
  EXPECT_EQ(pipeline.metrics[1].parameters.get_int("bootstrap"), 0);
  EXPECT_FALSE(pipeline.metrics[1].parameters.has("bootstrap_seed"));  // [evaluation]'s applies
  EXPECT_EQ(pipeline.metrics[2].parameters.get_int("bins"), 10);
  EXPECT_EQ(pipeline.metrics[1].where.line, 11);

  // Unset parameters get their defaults, so the resolved file states them.
  write_text(dir.file("q.toml"), "[dataset]\ntype = \"synthetic\"\n[model]\ntype = \"cnn\"\n");
  Pipeline defaults = load_pipeline(dir.file("q.toml"), {}, registry());
  ASSERT_EQ(defaults.metrics.size(), 5u);
  EXPECT_EQ(defaults.metrics[4].name, "f1");
  EXPECT_EQ(defaults.metrics[4].parameters.get_string("average"), "auto");

  auto json = pipeline.to_json();
  EXPECT_EQ(json["evaluation"]["f1"]["average"], "weighted");
  EXPECT_EQ(json["evaluation"]["calibration"]["bins"], 10);
}

TEST(MetricParameters, TheResolvedPipelineReadsBackTheSame) {
  TempDir dir;
  write_text(dir.file("p.toml"), kMetrics);
  Pipeline pipeline = load_pipeline(dir.file("p.toml"), {}, registry());
  const std::string resolved = pipeline.to_toml();
  EXPECT_NE(resolved.find("[evaluation.f1]\naverage = \"weighted\"\nbootstrap = 0\n"), std::string::npos) << resolved;
  write_text(dir.file("resolved.toml"), resolved);
  Pipeline again = load_pipeline(dir.file("resolved.toml"), {}, registry());
  EXPECT_EQ(again.to_toml(), resolved);
  EXPECT_EQ(again.to_json(), pipeline.to_json());
}

TEST(MetricParameters, OverridesReachMetricTables) {
  TempDir dir;
  write_text(dir.file("p.toml"), kMetrics);
  Pipeline pipeline = load_pipeline(dir.file("p.toml"), {"evaluation.f1.average=macro"}, registry());
  EXPECT_EQ(pipeline.metrics[1].parameters.get_string("average"), "macro");
}

TEST(MetricParameters, WrongNamesAndValuesAreLocatedWithTheClosestName) {
  TempDir dir;
  auto diagnostics = problems(dir, R"([dataset]
type = "synthetic"
[model]
type = "cnn"
[evaluation]
metrics = ["f1", "precision", "f1"]
[evaluation.f1]
averag = "weighted"
[evaluation.precision]
average = "weigthed"
bins = 3
[evaluation.recall]
average = "macro"
[evaluation.roc_auc]
average = "macro"
)");
  auto expect = [&](const std::string& text, int line, int column) {
    for (const auto& d : diagnostics) {
      if (d.message == text) {
        EXPECT_EQ(d.where.line, line) << d.to_string();
        EXPECT_EQ(d.where.column, column) << d.to_string();
        return;
      }
    }
    ADD_FAILURE() << "no diagnostic: " << text << "\n" << all(diagnostics);
  };
  expect("[evaluation.f1]: unknown key 'averag' (did you mean 'average'?); valid keys: average, bootstrap, "
         "bootstrap_seed",
         8, 1);
  expect("[evaluation.precision]: 'average': \"weigthed\" is not one of auto, macro, weighted, binary (did you "
         "mean 'weighted'?)",
         10, 11);
  expect("[evaluation.precision]: unknown key 'bins'; valid keys: average, bootstrap, bootstrap_seed", 11, 1);
  expect("[evaluation]: 'metrics': 'f1' is listed twice", 6, 31);
  EXPECT_EQ(diagnostics.size(), 6u) << all(diagnostics);
  bool recall = false, roc = false;
  for (const auto& d : diagnostics) {
    recall |= d.message.rfind("[evaluation.recall]: unknown metric 'recall'", 0) == 0;
    roc |= d.message.rfind("[evaluation.roc_auc]: metric 'roc_auc' is not in metrics (f1, precision, f1); add it",
                           0) == 0;
  }
  EXPECT_TRUE(recall) << all(diagnostics);
  EXPECT_TRUE(roc) << all(diagnostics);
}
