// The adam and adamw components' fast steps (one fused pass per parameter on
// the CPU; ATen's multi-tensor kernels elsewhere) against LibTorch's own
// Adam / AdamW, and their checkpoints against each other.
#include <gtest/gtest.h>

#include <sstream>

#include "cerebra/host.h"
#include "cerebra/training.h"
#include "run_support.h"

using namespace cerebra;

namespace {

// Parameters shaped like a small network's, one of them channels-last as
// Cerebra's convolution weights are, one left without a gradient.
std::vector<torch::Tensor> make_parameters() {
  torch::manual_seed(3);
  std::vector<torch::Tensor> params{torch::randn({8, 3, 3, 3}).contiguous(torch::MemoryFormat::ChannelsLast),
                                    torch::randn({8}), torch::randn({70000}), torch::randn({5, 7}), torch::randn({4})};
  for (auto& p : params) p.set_requires_grad(true);
  return params;
}

std::unique_ptr<torch::optim::Optimizer> build(const std::string& name, const std::string& implementation,
                                               std::vector<torch::Tensor>& params, double decay) {
  Parameters parameters;
  parameters.set("implementation", implementation);
  parameters.set("learning_rate", 0.01);
  parameters.set("weight_decay", decay);
  auto component = cerebra::testing::build_tree_host().registry().create_as<Optimizer>(kinds::optimizer, name, parameters);
  std::vector<ParameterGroup> groups{{"head", params, 0}};
  return component->build(groups);
}

// Steps with the same gradients (random, step by step) for every optimizer.
void step(torch::optim::Optimizer& optimizer, std::vector<torch::Tensor>& params, int seed) {
  torch::manual_seed(static_cast<std::uint64_t>(seed));
  for (std::size_t i = 0; i + 1 < params.size(); ++i) {
    params[i].mutable_grad() = torch::randn_like(params[i]);  // randn_like keeps the layout
  }
  optimizer.step();
}

void expect_close(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b, const std::string& what) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(torch::allclose(a[i], b[i], 1e-5, 1e-6))
        << what << ": parameter " << i << " differs by " << (a[i] - b[i]).abs().max().item<double>();
  }
}

}  // namespace

TEST(AdamStep, FusedAndForeachStepsFollowLibTorchsAdamAndAdamW) {
  for (const std::string name : {"adam", "adamw"}) {
    for (const double decay : {0.0, 0.05}) {
      auto reference_params = make_parameters();
      auto reference = build(name, "torch", reference_params, decay);
      for (const std::string implementation : {"fused", "foreach", "auto"}) {
        auto params = make_parameters();
        auto optimizer = build(name, implementation, params, decay);
        auto expected = make_parameters();
        auto torch_optimizer = build(name, "torch", expected, decay);
        for (int s = 0; s < 6; ++s) {
          step(*optimizer, params, s);
          step(*torch_optimizer, expected, s);
        }
        expect_close(params, expected, name + " " + implementation + " weight_decay " + std::to_string(decay));
        // The parameter without a gradient never moved.
        EXPECT_TRUE(torch::equal(params.back(), make_parameters().back()));
        EXPECT_TRUE(params[0].is_contiguous(torch::MemoryFormat::ChannelsLast));
      }
    }
  }
}

TEST(AdamStep, CheckpointsCarryOverBetweenTheFusedAndTorchsImplementation) {
  auto params = make_parameters();
  auto fused = build("adam", "fused", params, 0.01);
  for (int s = 0; s < 3; ++s) step(*fused, params, s);
  torch::serialize::OutputArchive out;
  fused->save(out);
  std::ostringstream bytes;
  out.save_to(bytes);

  // Resume the same weights under torch's Adam from the fused one's state ...
  std::vector<torch::Tensor> resumed;
  for (auto& p : params) resumed.push_back(p.detach().clone().set_requires_grad(true));
  auto torch_adam = build("adam", "torch", resumed, 0.01);
  std::istringstream in_bytes(bytes.str());
  torch::serialize::InputArchive in;
  in.load_from(in_bytes);
  torch_adam->load(in);
  // ... and both must take the same next steps (bias corrections included).
  for (int s = 3; s < 5; ++s) {
    step(*fused, params, s);
    step(*torch_adam, resumed, s);
  }
  expect_close(params, resumed, "fused then torch after a checkpoint");
}

TEST(AdamStep, AnUnknownImplementationIsRefused) {
  Parameters parameters;
  parameters.set("implementation", std::string("turbo"));
  EXPECT_THROW(cerebra::testing::build_tree_host().registry().create_as<Optimizer>(kinds::optimizer, "adam", parameters),
               Error);
}
