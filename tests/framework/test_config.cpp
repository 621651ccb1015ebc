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
  EXPECT_DIAGNOSTIC(diagnostics, "missing section [model]", 1, 1);
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
