// [run] precision: the choice for each device, autocast's scope, the float16
// loss scaler's rule (device-independent logic, run on the CPU), and whole
// runs in bf16 through the CLI.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>

#include "../../framework/src/training/model_runtime.h"
#include "../../framework/src/training/precision.h"
#include "run_support.h"

using namespace cerebra;
using namespace cerebra::detail;
using namespace cerebra::testing;

namespace {

ComputeFacts cpu(std::string bf16) { return {false, 0, std::move(bf16)}; }
ComputeFacts gpu(int major) { return {true, major, ""}; }

}  // namespace

// auto is what measured fastest at equal accuracy: on a CPU that is fp32
// even with native bf16 (bf16 cost accuracy, docs/results.md); on a GPU, AMP.
TEST(Precision, AutoKeepsFp32OnACpuAndTakesAmpOnAGpu) {
  EXPECT_EQ(choose_precision("auto", cpu("AVX512-BF16")).precision, Precision::fp32);
  EXPECT_EQ(choose_precision("auto", cpu("AMX-BF16")).precision, Precision::fp32);
  EXPECT_EQ(choose_precision("auto", cpu("")).precision, Precision::fp32);
  EXPECT_EQ(choose_precision("auto", gpu(8)).precision, Precision::bf16);
  EXPECT_EQ(choose_precision("auto", gpu(7)).precision, Precision::fp16);
  // The reason names what was found and why bf16 was not taken, for the run log.
  const std::string with_bf16 = choose_precision("auto", cpu("AVX512-BF16")).reason;
  EXPECT_NE(with_bf16.find("AVX512-BF16"), std::string::npos) << with_bf16;
  EXPECT_NE(with_bf16.find("cost accuracy"), std::string::npos) << with_bf16;
  EXPECT_NE(choose_precision("auto", cpu("")).reason.find("no native bf16"), std::string::npos);
  // Asked for, bf16 is still taken where the processor has it.
  EXPECT_EQ(choose_precision("bf16", cpu("AVX512-BF16")).precision, Precision::bf16);
}

TEST(Precision, ExplicitChoicesAreKeptWithAWarningWhereSlowAndFp16OnACpuIsAnError) {
  EXPECT_EQ(choose_precision("fp32", cpu("AMX-BF16")).precision, Precision::fp32);
  EXPECT_EQ(choose_precision("fp16", gpu(8)).precision, Precision::fp16);
  const PrecisionChoice emulated = choose_precision("bf16", cpu(""));
  EXPECT_EQ(emulated.precision, Precision::bf16);
  EXPECT_NE(emulated.reason.find("emulated"), std::string::npos) << emulated.reason;
  try {
    choose_precision("fp16", cpu("AVX512-BF16"));
    FAIL() << "fp16 on a CPU was accepted";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("[run] precision = \"fp16\" needs a CUDA device"), std::string::npos)
        << error.what();
  }
  EXPECT_THROW(choose_precision("half", cpu("")), Error);
  // Evaluation of an fp16-trained run on a CPU falls back to fp32 instead of failing.
  EXPECT_EQ(evaluation_precision("fp16", torch::kCPU), Precision::fp32);
}

TEST(Precision, AutocastScopeCastsMatrixProductsAndRestoresThePreviousState) {
  auto weight = torch::randn({4, 3});
  auto input = torch::randn({2, 3});
  {
    AutocastScope outer(torch::kCPU, Precision::bf16);
    EXPECT_EQ(torch::matmul(input, weight.t()).scalar_type(), torch::kBFloat16);
    {
      AutocastScope inner(torch::kCPU, Precision::fp32);  // fp32 changes nothing
      EXPECT_EQ(torch::matmul(input, weight.t()).scalar_type(), torch::kBFloat16);
    }
    EXPECT_EQ(torch::matmul(input, weight.t()).scalar_type(), torch::kBFloat16);
  }
  EXPECT_EQ(torch::matmul(input, weight.t()).scalar_type(), torch::kFloat);
}

TEST(LossScaler, TheRuleBacksOffOnOverflowAndGrowsAfterARunOfGoodSteps) {
  LossScaler::Options options;
  options.initial_scale = 1024;
  options.growth_interval = 3;
  double scale = options.initial_scale;
  std::int64_t good = 0;
  update_scale_rule(scale, good, true, options);
  EXPECT_EQ(scale, 512);
  EXPECT_EQ(good, 0);
  update_scale_rule(scale, good, false, options);
  update_scale_rule(scale, good, false, options);
  EXPECT_EQ(scale, 512);
  EXPECT_EQ(good, 2);
  update_scale_rule(scale, good, false, options);  // the third good step in a row
  EXPECT_EQ(scale, 1024);
  EXPECT_EQ(good, 0);
  update_scale_rule(scale, good, false, options);
  update_scale_rule(scale, good, true, options);  // an overflow resets the run
  EXPECT_EQ(scale, 512);
  EXPECT_EQ(good, 0);
  // Growth never takes the scale to infinity.
  double huge = std::numeric_limits<double>::max();
  std::int64_t last = 2;
  update_scale_rule(huge, last, false, options);
  EXPECT_TRUE(std::isfinite(huge));
  EXPECT_EQ(last, 0);
}

TEST(LossScaler, UnscalesGradientsFindsOverflowAndFollowsTheRule) {
  LossScaler::Options options;
  options.initial_scale = 8;
  options.growth_interval = 2;
  LossScaler scaler(torch::kCPU, options);
  auto w = torch::ones({3}, torch::requires_grad());
  auto unused = torch::ones({2}, torch::requires_grad());  // no gradient: skipped
  scaler.scale((w * torch::tensor({1.0f, 2.0f, 3.0f})).sum()).backward();
  EXPECT_TRUE(torch::allclose(w.grad(), torch::tensor({8.0f, 16.0f, 24.0f})));
  EXPECT_TRUE(scaler.unscale({w, unused}));
  EXPECT_TRUE(torch::allclose(w.grad(), torch::tensor({1.0f, 2.0f, 3.0f})));
  scaler.update();
  EXPECT_EQ(scaler.current_scale(), 8);
  EXPECT_EQ(scaler.good_steps(), 1);

  w.mutable_grad().copy_(torch::tensor({1.0f, std::numeric_limits<float>::infinity(), 0.0f}));
  EXPECT_FALSE(scaler.unscale({w}));
  scaler.update();
  EXPECT_EQ(scaler.current_scale(), 4);
  EXPECT_EQ(scaler.good_steps(), 0);
  w.mutable_grad().fill_(std::nanf(""));
  EXPECT_FALSE(scaler.unscale({w}));
  scaler.restore(64, 1);
  EXPECT_EQ(scaler.current_scale(), 64);
  EXPECT_EQ(scaler.good_steps(), 1);
}

// Where this LibTorch has CPU kernels for GradScaler's ops (2.x), the host
// rule must agree with ATen's over a sequence of good and bad steps.
TEST(LossScaler, TheHostRuleAgreesWithATensKernelWhereThisLibTorchHasOne) {
  auto scale = torch::full({1}, 1024.0f);
  auto tracker = torch::zeros({1}, torch::kInt);
  auto found = torch::zeros({1});
  try {
    at::_amp_update_scale_(scale, tracker, found, 2.0, 0.5, 3);
  } catch (const c10::Error&) {
    GTEST_SKIP() << "this LibTorch has no CPU kernel for _amp_update_scale_ (CUDA only before 2.x)";
  }
  LossScaler::Options options;
  options.initial_scale = 1024;
  options.growth_interval = 3;
  double host_scale = 1024;
  std::int64_t good = 0;
  update_scale_rule(host_scale, good, false, options);
  for (bool inf : {false, false, true, false, false, false, false, true}) {
    found.fill_(inf ? 1.0f : 0.0f);
    at::_amp_update_scale_(scale, tracker, found, 2.0, 0.5, 3);
    update_scale_rule(host_scale, good, inf, options);
    EXPECT_EQ(scale.item<double>(), host_scale);
    EXPECT_EQ(tracker.item<std::int64_t>(), good);
  }
}

TEST(Precision, ARunInBf16TrainsLikeFp32SaysSoAndEvaluatesTheSameWay) {
  TempDir dir;
  write_text(dir.file("p.toml"), tiny_pipeline(2));
  std::map<std::string, std::filesystem::path> runs;
  for (const std::string precision : {"fp32", "bf16"}) {
    const CommandResult result = run_command(cli() + " run " + dir.file("p.toml") + " --set run.precision=" + precision +
                                             " --set run.output=" + dir.file("runs-" + precision));
    ASSERT_EQ(result.exit_code, 0) << result.output;
    EXPECT_NE(result.output.find("precision: " + precision + " ("), std::string::npos) << result.output;
    runs[precision] = only_run(dir.file("runs-" + precision));
    EXPECT_EQ(read_json(runs[precision] / "summary.json")["precision"], precision);
  }
  // The same network, data and seed: bf16 arithmetic moves the losses by
  // rounding, not by a different computation.
  const auto fp32 = read_metrics(runs["fp32"]), bf16 = read_metrics(runs["bf16"]);
  ASSERT_EQ(fp32.size(), bf16.size());
  for (std::size_t e = 0; e < fp32.size(); ++e) {
    const double a = fp32[e]["train_loss"].get<double>(), b = bf16[e]["train_loss"].get<double>();
    EXPECT_NEAR(b, a, 0.03 * a) << "epoch " << e + 1;
    EXPECT_NEAR(bf16[e]["val_loss"].get<double>(), fp32[e]["val_loss"].get<double>(), 0.03 * a) << "epoch " << e + 1;
  }
  // `cerebra eval` re-opens the run in the precision it was trained in and
  // reproduces its test figure.
  const auto summary = read_json(runs["bf16"] / "summary.json");
  const CommandResult eval = run_command(cli() + " eval " + runs["bf16"].string() + " --split test --json 2>/dev/null");
  ASSERT_EQ(eval.exit_code, 0) << eval.output;
  const auto report = nlohmann::json::parse(eval.output.substr(eval.output.find('{')));
  EXPECT_DOUBLE_EQ(report["metrics"]["accuracy"]["value"].get<double>(),
                   summary["test"]["metrics"]["accuracy"]["value"].get<double>())
      << eval.output;
  EXPECT_NEAR(report["loss"].get<double>(), summary["test"]["loss"].get<double>(), 1e-6);
}

TEST(Precision, Fp16OnACpuStopsBeforeTrainingAndTheOldAmpKeyNamesItsSuccessor) {
  TempDir dir;
  write_text(dir.file("p.toml"), tiny_pipeline(1));
  CommandResult result = run_command(cli() + " run " + dir.file("p.toml") + " --set run.device=cpu --set run.precision=fp16 --set run.output=" +
                                     dir.file("runs"));
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.output.find("needs a CUDA device"), std::string::npos) << result.output;
  write_text(dir.file("amp.toml"), tiny_pipeline(1) + "amp = false\n");
  result = run_command(cli() + " validate " + dir.file("amp.toml"));
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.output.find("[run] precision"), std::string::npos) << result.output;
}

TEST(Precision, DeviceSelectionFallsBackToTheCpuAndNamesAMissingGpu) {
  if (torch::cuda::is_available()) {
    EXPECT_TRUE(choose_device("auto").is_cuda());
    EXPECT_THROW(choose_device("cuda:" + std::to_string(torch::cuda::device_count())), Error);
    return;
  }
  EXPECT_TRUE(choose_device("auto").is_cpu());
  EXPECT_TRUE(choose_device("cpu").is_cpu());
  for (const std::string setting : {"cuda", "cuda:1"}) {
    try {
      choose_device(setting);
      FAIL() << setting << " was accepted without a GPU";
    } catch (const Error& error) {
      EXPECT_NE(std::string(error.what()).find("[run] device = \"" + setting + "\" but no CUDA device is available"),
                std::string::npos)
          << error.what();
    }
  }
  // Without a GPU, compute_facts describes the CPU and auto follows it.
  const ComputeFacts facts = compute_facts(torch::kCPU);
  EXPECT_FALSE(facts.cuda);
  EXPECT_EQ(choose_precision("auto", facts).precision, Precision::fp32);
}
