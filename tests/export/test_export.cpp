// `cerebra export` end to end: a tiny run trained through the CLI, exported in
// each format, read back by Cerebra's own readers and LibTorch's TorchScript
// loader, and, where Debian's python3-torch and python3-torchvision are
// installed, loaded by Python (check_export.py) with its logits compared to
// Cerebra's on the same input.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/script.h>
#include <torch/torch.h>

#include "cerebra/architecture.h"
#include "cerebra/files.h"
#include "cerebra/pipeline.h"
#include "cerebra/weights.h"
#include "run_support.h"
#include "test_support.h"

namespace fs = std::filesystem;
using cerebra::testing::build_tree_host;
using cerebra::testing::cli;
using cerebra::testing::CommandResult;
using cerebra::testing::read_text;
using cerebra::testing::run_command;
using cerebra::testing::TempDir;
using nlohmann::json;

namespace {

constexpr double kTolerance = 1e-4;

// The run's model as Cerebra evaluates it: built from its pipeline.toml, its
// best checkpoint loaded, in evaluation mode.
std::shared_ptr<cerebra::ClassifierModel> run_model(const fs::path& run, std::int64_t classes) {
  auto& registry = build_tree_host().registry();
  cerebra::Pipeline pipeline = cerebra::load_pipeline((run / "pipeline.toml").string(), {}, registry);
  auto architecture = registry.create_as<cerebra::Architecture>(cerebra::kinds::architecture, pipeline.model.name,
                                                               pipeline.model.parameters);
  auto model = architecture->build(classes);
  cerebra::load_starting_weights(*model, run.string());
  model->eval();
  return model;
}

CommandResult export_run(const fs::path& run, const std::string& format, const std::string& out) {
  return run_command(cli() + " export " + run.string() + " --format " + format + " --out " + out);
}

bool python_has_torch() {
  static const bool present =
      run_command("/usr/bin/python3 -c 'import torch, torchvision' >/dev/null 2>&1").exit_code == 0;
  return present;
}

// The largest difference between two logit tables, scaled for large values.
double worst_difference(const torch::Tensor& expected, const json& actual) {
  double worst = 0;
  EXPECT_EQ(actual.size(), static_cast<std::size_t>(expected.size(0)));
  for (std::int64_t i = 0; i < expected.size(0) && i < static_cast<std::int64_t>(actual.size()); ++i) {
    EXPECT_EQ(actual[i].size(), static_cast<std::size_t>(expected.size(1)));
    for (std::int64_t j = 0; j < expected.size(1) && j < static_cast<std::int64_t>(actual[i].size()); ++j) {
      const double want = expected[i][j].item<double>();
      worst = std::max(worst, std::abs(want - actual[i][j].get<double>()) / std::max(1.0, std::abs(want)));
    }
  }
  return worst;
}

// check_export.py's JSON line for `file`; a test failure (and null) when Python fails.
// `arguments`: a JSON object of keyword arguments for torchvision's constructor.
json python_result(const std::string& format, const std::string& file, const std::string& input_file,
                   const std::string& architecture, int classes, int size, const std::string& arguments = "{}") {
  CommandResult python = run_command("/usr/bin/python3 " + std::string(CEREBRA_SOURCE_DIR) +
                                     "/tests/export/check_export.py " + format + " " + file + " " + input_file + " " +
                                     architecture + " " + std::to_string(classes) + " " + std::to_string(size) + " " +
                                     CEREBRA_SOURCE_DIR + " '" + arguments + "' 2>&1");
  EXPECT_EQ(python.exit_code, 0) << python.output;
  if (python.exit_code != 0 || python.output.rfind('{') == std::string::npos) return nullptr;
  const std::string last_line = python.output.substr(python.output.rfind('{'));
  std::cout << "[python " << architecture << " " << format << "] " << last_line.substr(0, 300) << " ...\n";
  return json::parse(last_line);
}

// The model's parameter and buffer names, sorted, as Python's state dict lists them.
std::vector<std::string> tensor_names(cerebra::ClassifierModel& model) {
  std::vector<std::string> names;
  for (const auto& item : model.named_parameters()) names.push_back(item.key());
  for (const auto& item : model.named_buffers()) {
    if (item.key() != "transform_input") names.push_back(item.key());  // a constructor argument in torchvision
  }
  std::sort(names.begin(), names.end());
  return names;
}

// Each format exported through the CLI and loaded by Python (check_export.py),
// with the logits on `input` compared to Cerebra's.
void check_in_python(const TempDir& dir, const fs::path& run, const std::string& architecture, int classes,
                     int size, const torch::Tensor& input, const std::vector<std::string>& formats,
                     const std::string& arguments = "{}") {
  auto model = run_model(run, classes);
  torch::Tensor expected;
  {
    torch::NoGradGuard no_grad;
    expected = model->forward(input).contiguous();
  }
  cerebra::write_safetensors(dir.file("input.safetensors"), {{"input", input}});
  for (const auto& format : formats) {
    SCOPED_TRACE(format);
    const std::string folder = dir.file("export-" + format);
    fs::create_directories(folder);
    const std::string file = folder + "/model." + (format == "torchscript" ? "pt" : format);
    CommandResult exported = export_run(run, format, file);
    ASSERT_EQ(exported.exit_code, 0) << exported.output;
    json result = python_result(format, file, dir.file("input.safetensors"), architecture, classes, size, arguments);
    ASSERT_TRUE(result.is_object());
    EXPECT_EQ(result["tensors"].get<std::vector<std::string>>(), tensor_names(*model));
    if (format == "pth") EXPECT_EQ(result["type"], "OrderedDict");
    EXPECT_LT(worst_difference(expected, result["logits"]), kTolerance);
    ASSERT_TRUE(result.contains("card_logits")) << "the model card's code did not run";
    EXPECT_LT(worst_difference(expected, result["card_logits"]), kTolerance);
  }
}

// The suite's tiny CNN run (32x32, two classes), trained on first use, with
// bootstrap intervals for the model card to report.
const fs::path& tiny_run() {
  static const TempDir dir;
  static const fs::path run = cerebra::testing::train_tiny_run(dir, 1, "--set evaluation.bootstrap=200");
  return run;
}

TEST(Export, WritesEachFormatWithTheRunsTensorsAndAModelCard) {
  ASSERT_FALSE(tiny_run().empty());
  auto model = run_model(tiny_run(), 2);
  TempDir out;

  // pth and safetensors: contiguous copies of every parameter and buffer, by name.
  for (const std::string format : {"pth", "safetensors"}) {
    SCOPED_TRACE(format);
    const std::string file = out.file("model." + format);
    CommandResult result = export_run(tiny_run(), format, file);
    ASSERT_EQ(result.exit_code, 0) << result.output;
    EXPECT_NE(result.output.find("Cnn(classes=2, size=32)"), std::string::npos) << result.output;
    cerebra::StateDict state = cerebra::read_state_dict(file);
    auto parameters = model->named_parameters();
    auto buffers = model->named_buffers();
    EXPECT_EQ(state.size(), parameters.size() + buffers.size());
    for (const auto& [name, tensor] : state) {
      const torch::Tensor* original = parameters.find(name) ? parameters.find(name) : buffers.find(name);
      ASSERT_NE(original, nullptr) << name;
      EXPECT_TRUE(tensor.is_contiguous()) << name;
      EXPECT_TRUE(torch::equal(tensor, original->contiguous())) << name;
    }
    ASSERT_GE(state.size(), 1u);
    EXPECT_EQ(state[0].first, "conv1.weight");
  }

  // torchscript: LibTorch's own loader runs it to the model's logits.
  const std::string script = out.file("model.pt");
  CommandResult result = export_run(tiny_run(), "torchscript", script);
  ASSERT_EQ(result.exit_code, 0) << result.output;
  torch::jit::Module loaded = torch::jit::load(script);
  torch::manual_seed(5);
  torch::Tensor input = torch::rand({3, 3, 32, 32});
  torch::NoGradGuard no_grad;
  torch::Tensor expected = model->forward(input);
  torch::Tensor actual = loaded.forward({input}).toTensor();
  EXPECT_LT((expected - actual).abs().max().item<double>(), kTolerance);

  // The model card: data, split counts, metrics, preprocessing, use.
  const std::string card = read_text(out.path() / "MODEL_CARD.md");
  json summary = cerebra::testing::read_json(tiny_run() / "summary.json");
  for (const std::string split : {"train", "val", "test"}) {
    EXPECT_NE(card.find("| " + split + " | " + std::to_string(summary["split"][split].get<int>()) + " |"),
              std::string::npos)
        << split << "\n" << card;
  }
  const json& accuracy = summary["test"]["metrics"]["accuracy"];
  ASSERT_TRUE(accuracy["ci95"].is_array()) << accuracy.dump();
  const std::string accuracy_row =
      fmt::format("| accuracy | {:.4f} | overall | [{:.4f}, {:.4f}] |", accuracy["value"].get<double>(),
                  accuracy["ci95"][0].get<double>(), accuracy["ci95"][1].get<double>());
  EXPECT_NE(card.find(accuracy_row), std::string::npos) << accuracy_row << "\n" << card;
  for (const char* needle : {"Dataset `synthetic`", "1. `resize` {", "\"size\":32", "`random_flip`",
                             "torch.jit.load(\"model.pt\")", "not be used for diagnosis", "source shift",
                             "classes | no, yes (logits in this order)"}) {
    EXPECT_NE(card.find(needle), std::string::npos) << needle << "\n" << card;
  }
  for (const auto& entry : fs::directory_iterator(out.path())) {
    EXPECT_NE(entry.path().extension(), ".tmp") << entry.path();
  }
}

TEST(Export, RefusesWhatItCannotDoAndLeavesNoFileBehind) {
  TempDir out;
  CommandResult unknown = export_run(tiny_run(), "onnx", out.file("model.onnx"));
  EXPECT_EQ(unknown.exit_code, 2) << unknown.output;
  EXPECT_NE(unknown.output.find("unknown --format 'onnx'"), std::string::npos) << unknown.output;
  CommandResult no_out = run_command(cli() + " export " + tiny_run().string() + " --format pth");
  EXPECT_EQ(no_out.exit_code, 2) << no_out.output;

  const std::string unwritable = out.file("missing-folder/model.pth");
  CommandResult cannot_write = export_run(tiny_run(), "pth", unwritable);
  EXPECT_EQ(cannot_write.exit_code, 1) << cannot_write.output;
  EXPECT_NE(cannot_write.output.find(unwritable + ": cannot write: No such file or directory"), std::string::npos)
      << cannot_write.output;

  // A run without a checkpoint: named, and nothing written.
  TempDir copy;
  fs::copy(tiny_run(), copy.file("run"), fs::copy_options::recursive);
  fs::remove(copy.path() / "run" / "checkpoints" / "best.pt");
  CommandResult no_checkpoint = export_run(copy.path() / "run", "safetensors", out.file("model.safetensors"));
  EXPECT_EQ(no_checkpoint.exit_code, 1) << no_checkpoint.output;
  EXPECT_NE(no_checkpoint.output.find("best.pt: no such checkpoint"), std::string::npos) << no_checkpoint.output;
  EXPECT_TRUE(fs::is_empty(out.path())) << "files left behind";
}

TEST(Export, PythonLoadsEachFormatOfTheCnnWithCerebrasLogits) {
  if (!python_has_torch()) GTEST_SKIP() << "/usr/bin/python3 has no torch and torchvision (python3-torch, python3-torchvision)";
  torch::manual_seed(11);
  TempDir dir;
  check_in_python(dir, tiny_run(), "cnn", 2, 32, torch::rand({4, 3, 32, 32}), {"pth", "safetensors", "torchscript"});
}

TEST(ExportResNet50, PythonLoadsItIntoTorchvisionStrictlyWithCerebrasLogits) {
  if (!python_has_torch()) GTEST_SKIP() << "/usr/bin/python3 has no torch and torchvision (python3-torch, python3-torchvision)";
  TempDir dir;
  // One epoch at 64x64 on 32 synthetic images: enough to move every tensor,
  // batch-norm statistics included, away from its initial value.
  const fs::path run =
      cerebra::testing::train_tiny_run(dir, 1, "", cerebra::testing::tiny_pipeline(1, "type = \"resnet50\"", 64, 32));
  ASSERT_FALSE(run.empty());
  torch::manual_seed(13);
  check_in_python(dir, run, "resnet50", 2, 64, torch::rand({2, 3, 64, 64}), {"pth", "safetensors", "torchscript"});
}

}  // namespace

// VGG16 and Inception v3 take hours to train here, so their exports are
// checked without a run: a freshly built model, its batch-norm statistics
// randomised so they matter, written as export_run writes a state dict.
TEST(ExportTorchvision, Vgg16AndInceptionV3StateDictsLoadStrictlyWithTheSameLogits) {
  if (!python_has_torch()) GTEST_SKIP() << "/usr/bin/python3 has no torch and torchvision (python3-torch, python3-torchvision)";
  auto& registry = build_tree_host().registry();
  for (const auto& [architecture, size] : std::vector<std::pair<std::string, int>>{{"vgg16", 32}, {"inception_v3", 75}}) {
    SCOPED_TRACE(architecture);
    TempDir dir;
    cerebra::Parameters parameters =
        cerebra::Parameters::defaults(registry.find(cerebra::kinds::architecture, architecture).schema);
    auto model = registry.create_as<cerebra::Architecture>(cerebra::kinds::architecture, architecture, parameters)
                     ->build(3);
    torch::manual_seed(17);
    {
      torch::NoGradGuard no_grad;
      for (auto& buffer : model->named_buffers()) {
        if (buffer.key().find("running_mean") != std::string::npos) buffer.value().normal_(0, 0.1);
        if (buffer.key().find("running_var") != std::string::npos) buffer.value().uniform_(0.5, 1.5);
      }
    }
    model->eval();
    torch::Tensor input = torch::rand({2, 3, size, size});
    torch::Tensor expected;
    {
      torch::NoGradGuard no_grad;
      expected = model->forward(input).contiguous();
    }
    cerebra::write_safetensors(dir.file("input.safetensors"), {{"input", input}});
    const cerebra::StateDict state = cerebra::exported_state_dict(*model);
    cerebra::write_file_atomically(dir.file("model.pth"), cerebra::torch_state_dict_bytes(state));
    const std::string arguments =
        architecture == "inception_v3" ? R"({"aux_logits": true, "transform_input": false, "init_weights": false})" : "{}";
    json result =
        python_result("pth", dir.file("model.pth"), dir.file("input.safetensors"), architecture, 3, size, arguments);
    ASSERT_TRUE(result.is_object());
    EXPECT_EQ(result["tensors"].get<std::vector<std::string>>(), tensor_names(*model));
    EXPECT_LT(worst_difference(expected, result["logits"]), kTolerance);
  }
}

TEST(ExportInceptionV3, PythonLoadsItIntoTorchvisionStrictlyWithCerebrasLogits) {
  if (!python_has_torch()) GTEST_SKIP() << "/usr/bin/python3 has no torch and torchvision (python3-torch, python3-torchvision)";
  TempDir dir;
  // Its smallest input, 75x75, which leaves the auxiliary classifier (17x17 maps) out;
  // transform_input on, as with published weights, so the exports must carry it.
  const fs::path run = cerebra::testing::train_tiny_run(
      dir, 1, "",
      cerebra::testing::tiny_pipeline(1, "type = \"inception_v3\"\naux_logits = false\ntransform_input = \"on\"", 75,
                                      32));
  ASSERT_FALSE(run.empty());
  torch::manual_seed(19);
  check_in_python(dir, run, "inception_v3", 2, 75, torch::rand({2, 3, 75, 75}), {"pth", "safetensors", "torchscript"},
                  R"({"aux_logits": false, "transform_input": true, "init_weights": false})");
}

TEST(ExportVgg16, TorchScriptRunsInPythonWithCerebrasLogits) {
  if (!python_has_torch()) GTEST_SKIP() << "/usr/bin/python3 has no torch and torchvision (python3-torch, python3-torchvision)";
  TempDir dir;
  // Its state dict is checked above (ExportTorchvision); this is its TorchScript, from a real run.
  const fs::path run =
      cerebra::testing::train_tiny_run(dir, 1, "", cerebra::testing::tiny_pipeline(1, "type = \"vgg16\"", 32, 32));
  ASSERT_FALSE(run.empty());
  torch::manual_seed(23);
  check_in_python(dir, run, "vgg16", 2, 32, torch::rand({2, 3, 32, 32}), {"torchscript"});
}
