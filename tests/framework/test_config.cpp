#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cerebra/pipeline.h"
#include "test_support.h"

using namespace cerebra;
using cerebra::testing::TempDir;
using cerebra::testing::write_text;

namespace {

class Stub : public Component {
 public:
  explicit Stub(const Parameters&) {}
};

// Real schemas, stub behaviour: validation only looks at schemas.
Registry make_registry() {
  Registry registry;
  Schema dataset;
  dataset.add_int("count", 100, "Images").range(1, 1000000);
  registry.add<Stub>(kinds::dataset, "synthetic", "Generated", dataset);
  Schema folder;
  folder.add_required("root", ParameterType::Path, "Folder of class folders");
  registry.add<Stub>(kinds::dataset, "image_folder", "Folders", folder);
  Schema cnn;
  cnn.add_float("dropout", 0.3, "Dropout rate").range(0, 1);
  registry.add<Stub>(kinds::architecture, "cnn", "Small CNN", cnn);
  Schema resize;
  resize.add_int("size", 64, "Side").range(1, 4096);
  resize.add_string("mode", "stretch", "How").one_of({"stretch", "pad"});
  resize.add_numbers("scale", {1.0, 1.0}, "Scales").range(0, 10);
  registry.add<Stub>(kinds::transform, "resize", "Resizes", resize);
  registry.add<Stub>(kinds::metric, "accuracy", "Accuracy", {});
  for (const char* metric : {"f1", "precision", "sensitivity", "specificity"}) {
    registry.add<Stub>(kinds::metric, metric, metric, {});
  }
  // The training sections' defaults, and a second optimizer and a callback to name.
  Schema adam;
  adam.add_float("learning_rate", 1e-3, "Rate").range(0, 10);
  registry.add<Stub>(kinds::optimizer, "adam", "Adam", adam);
  registry.add<Stub>(kinds::optimizer, "sgd", "SGD", adam);
  registry.add<Stub>(kinds::loss, "cross_entropy", "Cross-entropy", {});
  registry.add<Stub>(kinds::schedule, "constant", "Constant", {});
  registry.add<Stub>(kinds::objective, "classification", "Classification", {});
  Schema early;
  early.add_int("patience", 5, "Epochs").range(1, 1000);
  registry.add<Stub>(kinds::callback, "early_stopping", "Early stopping", early);
  return registry;
}

const Diagnostic* find(const std::vector<Diagnostic>& diagnostics, const std::string& part) {
  for (const auto& d : diagnostics) {
    if (d.message.find(part) != std::string::npos) return &d;
  }
  return nullptr;
}

std::vector<Diagnostic> problems(const std::string& file) {
  Registry registry = make_registry();
  try {
    load_pipeline(file, {}, registry);
  } catch (const ConfigError& error) {
    return error.diagnostics();
  }
  return {};
}

#define EXPECT_DIAGNOSTIC(diagnostics, text, line_, column_)                      \
  do {                                                                           \
    const Diagnostic* d = find(diagnostics, text);                               \
    ASSERT_NE(d, nullptr) << "no diagnostic containing: " << text;               \
    EXPECT_EQ(d->where.line, line_) << d->to_string();                           \
    EXPECT_EQ(d->where.column, column_) << d->to_string();                       \
  } while (0)

const char* kMinimal = R"([dataset]
type = "synthetic"

[model]
type = "cnn"
)";

}  // namespace

TEST(Pipeline, AMinimalPipelineResolvesWithEveryDefault) {
  TempDir dir;
  write_text(dir.file("p.toml"), kMinimal);
  Registry registry = make_registry();
  Pipeline pipeline = load_pipeline(dir.file("p.toml"), {}, registry);
  EXPECT_EQ(pipeline.dataset.name, "synthetic");
  EXPECT_EQ(pipeline.dataset.parameters.get_int("count"), 100);
  EXPECT_EQ(pipeline.model.parameters.get_float("dropout"), 0.3);
  EXPECT_EQ(pipeline.section("training").get_int("epochs"), 10);
  EXPECT_EQ(pipeline.section("run").get_string("device"), "auto");
}

TEST(Pipeline, ReportsEveryProblemAtOnceWithLineAndColumn) {
  TempDir dir;
  write_text(dir.file("bad.toml"), R"([run]
seed = "forty-two"
sed = 4

[dataset]
type = "synthetc"

[model]
type = "cnn"
dropout = 1.5

[[preprocess]]
type = "resize"
size = 0
mode = "zoom"
scale = [1, "x"]

[trainig]
epochs = 3

[evaluation]
metrics = ["accuracy", "f2"]
)");
  auto diagnostics = problems(dir.file("bad.toml"));
  EXPECT_DIAGNOSTIC(diagnostics, "[run]: 'seed': expected int, found string", 2, 8);
  EXPECT_DIAGNOSTIC(diagnostics, "[run]: unknown key 'sed' (did you mean 'seed'?)", 3, 1);
  EXPECT_DIAGNOSTIC(diagnostics,
                    "[dataset]: unknown dataset 'synthetc' (did you mean 'synthetic'?); available: "
                    "image_folder, synthetic",
                    6, 8);
  EXPECT_DIAGNOSTIC(diagnostics, "[model] (cnn): 'dropout': 1.5 is out of range [0, 1]", 10, 11);
  EXPECT_DIAGNOSTIC(diagnostics, "[[preprocess]] #1 (resize): 'size': 0 is out of range [1, 4096]", 14, 8);
  EXPECT_DIAGNOSTIC(diagnostics, "'mode': \"zoom\" is not one of stretch, pad", 15, 8);
  EXPECT_DIAGNOSTIC(diagnostics, "'scale': expected a number in the list, found string", 16, 13);
  EXPECT_DIAGNOSTIC(diagnostics, "unknown section 'trainig' (did you mean 'training'?)", 18, 2);
  EXPECT_DIAGNOSTIC(diagnostics,
                    "'metrics': unknown metric 'f2' (did you mean 'f1'?); available: accuracy, f1, precision, "
                    "sensitivity, specificity",
                    22, 24);
  EXPECT_EQ(diagnostics.size(), 9u);
  // Every message names the file.
  for (const auto& d : diagnostics) EXPECT_EQ(d.where.file, dir.file("bad.toml"));
}

TEST(Pipeline, MissingRequiredValuesAndSections) {
  TempDir dir;
  write_text(dir.file("p.toml"), "[dataset]\ntype = \"image_folder\"\n");
  auto diagnostics = problems(dir.file("p.toml"));
  EXPECT_DIAGNOSTIC(diagnostics, "[dataset] (image_folder): missing required value 'root'", 1, 1);
  EXPECT_DIAGNOSTIC(diagnostics, "missing section [model] (an architecture: cnn)", 1, 1);
  EXPECT_EQ(diagnostics.size(), 2u);
}

TEST(Pipeline, ComponentWithoutTypeListsTheChoices) {
  TempDir dir;
  write_text(dir.file("p.toml"), "[dataset]\ncount = 3\n[model]\ntype = 7\n");
  auto diagnostics = problems(dir.file("p.toml"));
  EXPECT_DIAGNOSTIC(diagnostics, "[dataset]: missing required value 'type' (which dataset; available: image_folder, synthetic)", 1, 1);
  EXPECT_DIAGNOSTIC(diagnostics, "[model]: 'type': expected string, found integer", 4, 8);
}

TEST(Pipeline, SplitFractionsMustAddUpToOne) {
  TempDir dir;
  write_text(dir.file("p.toml"), std::string(kMinimal) + "[split]\ntrain = 0.8\nval = 0.3\ntest = 0.1\n");
  auto diagnostics = problems(dir.file("p.toml"));
  ASSERT_EQ(diagnostics.size(), 1u);
  EXPECT_EQ(diagnostics[0].message, "[split]: train + val + test must be 1, found 1.2");
}

TEST(Pipeline, SyntaxErrorsCarryThePosition) {
  TempDir dir;
  write_text(dir.file("p.toml"), "[run]\nseed = = 4\n");
  auto diagnostics = problems(dir.file("p.toml"));
  ASSERT_EQ(diagnostics.size(), 1u);
  EXPECT_EQ(diagnostics[0].where.line, 2);
  EXPECT_NE(diagnostics[0].message.find("TOML syntax error"), std::string::npos);
}

TEST(Pipeline, AMissingFileIsNamed) {
  auto diagnostics = problems("/nonexistent/pipeline.toml");
  ASSERT_EQ(diagnostics.size(), 1u);
  EXPECT_EQ(diagnostics[0].to_string(), "/nonexistent/pipeline.toml: cannot read: No such file or directory");
}

TEST(Pipeline, OverridesAreValidatedLikeTheFile) {
  TempDir dir;
  write_text(dir.file("p.toml"), kMinimal);
  Registry registry = make_registry();
  Pipeline pipeline = load_pipeline(
      dir.file("p.toml"),
      {"training.epochs=3", "model.dropout=0.5", "run.output=/tmp/some where", "run.name=quick"},
      registry);
  EXPECT_EQ(pipeline.section("training").get_int("epochs"), 3);
  EXPECT_EQ(pipeline.model.parameters.get_float("dropout"), 0.5);
  EXPECT_EQ(pipeline.section("run").get_string("output"), "/tmp/some where");
  EXPECT_EQ(pipeline.section("run").get_string("name"), "quick");

  try {
    load_pipeline(dir.file("p.toml"), {"training.epochs=many", "model.dropout=2"}, registry);
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& error) {
    ASSERT_EQ(error.diagnostics().size(), 2u);
    EXPECT_EQ(error.diagnostics()[0].to_string(),
              "--set model.dropout=2: [model] (cnn): 'dropout': 2 is out of range [0, 1]");
    EXPECT_EQ(error.diagnostics()[1].to_string(),
              "--set training.epochs=many: [training]: 'epochs': expected int, found string");
  }
  EXPECT_THROW(load_pipeline(dir.file("p.toml"), {"noequals"}, registry), ConfigError);
}

TEST(Pipeline, OverridesReachIntoListsOfTables) {
  TempDir dir;
  write_text(dir.file("p.toml"), std::string(kMinimal) + "[[preprocess]]\ntype = \"resize\"\n");
  Registry registry = make_registry();
  Pipeline pipeline = load_pipeline(dir.file("p.toml"), {"preprocess.0.size=128"}, registry);
  EXPECT_EQ(pipeline.preprocess.at(0).parameters.get_int("size"), 128);
  EXPECT_THROW(load_pipeline(dir.file("p.toml"), {"preprocess.3.size=128"}, registry), ConfigError);
}

TEST(Pipeline, IncludesMergeAndLaterValuesWin) {
  TempDir dir;
  write_text(dir.file("base/common.toml"), std::string(kMinimal) +
                                               "[training]\nepochs = 20\nbatch_size = 8\n"
                                               "[[preprocess]]\ntype = \"resize\"\nsize = 32\n");
  write_text(dir.file("base/more.toml"), "include = [\"common.toml\"]\n[training]\nbatch_size = 16\n");
  write_text(dir.file("top.toml"),
             "include = [\"base/more.toml\"]\n[training]\nepochs = 5\n[model]\ndropout = 0.1\n");
  Registry registry = make_registry();
  Pipeline pipeline = load_pipeline(dir.file("top.toml"), {}, registry);
  EXPECT_EQ(pipeline.section("training").get_int("epochs"), 5);       // top wins
  EXPECT_EQ(pipeline.section("training").get_int("batch_size"), 16);  // middle wins over base
  EXPECT_EQ(pipeline.model.name, "cnn");                               // from base
  EXPECT_EQ(pipeline.model.parameters.get_float("dropout"), 0.1);
  ASSERT_EQ(pipeline.preprocess.size(), 1u);
  EXPECT_EQ(pipeline.preprocess[0].parameters.get_int("size"), 32);
}

TEST(Pipeline, AProblemInAnIncludedFileNamesThatFile) {
  TempDir dir;
  write_text(dir.file("base.toml"), std::string(kMinimal) + "[training]\nepochs = -1\n");
  write_text(dir.file("top.toml"), "include = [\"base.toml\"]\n");
  auto diagnostics = problems(dir.file("top.toml"));
  ASSERT_EQ(diagnostics.size(), 1u);
  EXPECT_EQ(diagnostics[0].where.file, dir.file("base.toml"));
  EXPECT_EQ(diagnostics[0].where.line, 7);
}

TEST(Pipeline, IncludeCyclesAndMissingIncludesAreReported) {
  TempDir dir;
  write_text(dir.file("a.toml"), "include = [\"b.toml\"]\n");
  write_text(dir.file("b.toml"), "include = [\"a.toml\"]\n");
  auto diagnostics = problems(dir.file("a.toml"));
  ASSERT_EQ(diagnostics.size(), 1u);
  EXPECT_NE(diagnostics[0].message.find("include cycle"), std::string::npos);

  write_text(dir.file("c.toml"), "include = [\"missing.toml\"]\n");
  diagnostics = problems(dir.file("c.toml"));
  ASSERT_EQ(diagnostics.size(), 1u);
  EXPECT_EQ(diagnostics[0].where.line, 1);
  EXPECT_EQ(diagnostics[0].where.column, 12);
  EXPECT_NE(diagnostics[0].message.find("included file not found"), std::string::npos);
}

TEST(Pipeline, ResolvedTomlReadsBackToTheSamePipeline) {
  TempDir dir;
  write_text(dir.file("p.toml"), std::string(kMinimal) + "[[preprocess]]\ntype = \"resize\"\nsize = 99\n");
  Registry registry = make_registry();
  Pipeline first = load_pipeline(dir.file("p.toml"), {}, registry);
  write_text(dir.file("resolved.toml"), first.to_toml());
  Pipeline second = load_pipeline(dir.file("resolved.toml"), {}, registry);
  EXPECT_EQ(first.to_json(), second.to_json());
  EXPECT_NE(first.to_toml().find("epochs = 10"), std::string::npos);
}

TEST(Pipeline, TrainingComponentsDefaultWhenTheirSectionsAreAbsent) {
  TempDir dir;
  write_text(dir.file("p.toml"), kMinimal);
  Registry registry = make_registry();
  Pipeline pipeline = load_pipeline(dir.file("p.toml"), {}, registry);
  EXPECT_EQ(pipeline.loss.name, "cross_entropy");
  EXPECT_EQ(pipeline.optimizer.name, "adam");
  EXPECT_EQ(pipeline.optimizer.parameters.get_float("learning_rate"), 1e-3);
  EXPECT_EQ(pipeline.schedule.name, "constant");
  EXPECT_EQ(pipeline.objective.name, "classification");
  EXPECT_TRUE(pipeline.callbacks.empty());
  const std::string toml = pipeline.to_toml();
  EXPECT_NE(toml.find("[optimizer]\ntype = \"adam\"\nlearning_rate = 0.001\n"), std::string::npos) << toml;
  EXPECT_NE(toml.find("[objective]\ntype = \"classification\"\n"), std::string::npos) << toml;
}

TEST(Pipeline, TrainingComponentSectionsAreValidatedLikeTheOthers) {
  TempDir dir;
  write_text(dir.file("p.toml"), std::string(kMinimal) + R"(
[optimizer]
type = "sgdd"

[[callbacks]]
type = "early_stopping"
patience = 0

[[callbacks]]
type = "early_stoping"
)");
  auto diagnostics = problems(dir.file("p.toml"));
  ASSERT_EQ(diagnostics.size(), 3u);
  EXPECT_DIAGNOSTIC(diagnostics, "[optimizer]: unknown optimizer 'sgdd' (did you mean 'sgd'?); available: adam, sgd",
                    8, 8);
  EXPECT_DIAGNOSTIC(diagnostics, "[[callbacks]] #1 (early_stopping): 'patience': 0 is out of range [1, 1000]", 12, 12);
  EXPECT_DIAGNOSTIC(diagnostics, "[[callbacks]] #2: unknown callback 'early_stoping' (did you mean 'early_stopping'?)",
                    15, 8);

  write_text(dir.file("good.toml"), std::string(kMinimal) +
                                        "[optimizer]\ntype = \"sgd\"\nlearning_rate = 0.1\n"
                                        "[[callbacks]]\ntype = \"early_stopping\"\npatience = 3\n");
  Registry registry = make_registry();
  Pipeline pipeline = load_pipeline(dir.file("good.toml"), {}, registry);
  ASSERT_EQ(pipeline.callbacks.size(), 1u);
  EXPECT_EQ(pipeline.callbacks[0].parameters.get_int("patience"), 3);
  EXPECT_EQ(pipeline.optimizer.parameters.get_float("learning_rate"), 0.1);
  // The resolved pipeline reads back to the same components.
  write_text(dir.file("resolved.toml"), pipeline.to_toml());
  Pipeline again = load_pipeline(dir.file("resolved.toml"), {}, registry);
  EXPECT_EQ(again.to_toml(), pipeline.to_toml());
  EXPECT_EQ(again.callbacks[0].parameters.get_int("patience"), 3);
}

TEST(Pipeline, OldTrainingKeysSayWhereTheyLiveNow) {
  TempDir dir;
  write_text(dir.file("old.toml"), std::string(kMinimal) + R"(
[training]
epochs = 3
optimizer = "sgd"
learning_rate = 0.01
class_balance = "loss_weights"
early_stopping_patience = 4
)");
  auto diagnostics = problems(dir.file("old.toml"));
  ASSERT_EQ(diagnostics.size(), 4u);
  EXPECT_DIAGNOSTIC(diagnostics, "[training]: 'optimizer' has moved; it is now [optimizer] type", 9, 1);
  EXPECT_DIAGNOSTIC(diagnostics, "[training]: 'learning_rate' has moved; it is now [optimizer] learning_rate", 10, 1);
  EXPECT_DIAGNOSTIC(diagnostics, "'class_balance' has moved; it is now [loss] class_weights = \"balanced\"", 11, 1);
  EXPECT_DIAGNOSTIC(diagnostics, "'early_stopping_patience' has moved; it is now [[callbacks]] type = \"early_stopping\"",
                    12, 1);
  // The same through an override.
  write_text(dir.file("p.toml"), kMinimal);
  Registry registry = make_registry();
  try {
    load_pipeline(dir.file("p.toml"), {"training.optimizer=sgd"}, registry);
    FAIL() << "an old key in an override must be refused";
  } catch (const ConfigError& error) {
    ASSERT_EQ(error.diagnostics().size(), 1u);
    EXPECT_NE(error.diagnostics()[0].message.find("'optimizer' has moved; it is now [optimizer] type"),
              std::string::npos)
        << error.diagnostics()[0].to_string();
  }
}
