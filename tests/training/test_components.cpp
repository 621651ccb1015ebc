// The training components themselves, created through the registry from the
// plugins this build made: losses, optimizers and schedules against values
// worked out by hand or by torch's own functions.
#include <gtest/gtest.h>

#include <cmath>

#include "cerebra/host.h"
#include "cerebra/schedule.h"
#include "cerebra/training.h"
#include "run_support.h"

using namespace cerebra;

namespace {

Host& host() { return cerebra::testing::build_tree_host(); }

template <class T>
std::unique_ptr<T> make(const char* kind, const char* name, std::map<std::string, Value> values = {}) {
  Parameters parameters;
  for (auto& [key, value] : values) parameters.set(key, value);
  return host().registry().create_as<T>(kind, name, parameters);
}

double factor(const Schedule& schedule, int epoch, int epochs, std::size_t batch = 0, std::size_t batches = 1) {
  return schedule.factor({epoch, epochs, batch, batches});
}

const torch::Tensor kLogits = torch::tensor({{2.0f, 0.5f, -1.0f}, {0.1f, 0.2f, 0.3f}, {-1.0f, 3.0f, 0.0f},
                                             {1.0f, 1.0f, 1.0f}});
const torch::Tensor kLabels = torch::tensor({0, 2, 1, 1}, torch::kLong);

}  // namespace

TEST(Losses, CrossEntropyIsTorchsWithSmoothingAndBalancedWeights) {
  auto plain = make<Loss>(kinds::loss, "cross_entropy");
  plain->prepare({{"a", "b", "c"}, {2, 1, 1}, torch::kCPU});
  EXPECT_TRUE(torch::allclose(plain->compute(kLogits, kLabels), torch::nn::functional::cross_entropy(kLogits, kLabels)));

  auto balanced = make<Loss>(kinds::loss, "cross_entropy", {{"class_weights", std::string("balanced")},
                                                            {"label_smoothing", 0.1}});
  balanced->prepare({{"a", "b", "c"}, {6, 3, 1}, torch::kCPU});
  // n / (k * count): 10 / 18, 10 / 9, 10 / 3.
  auto weights = torch::tensor({10.0f / 18, 10.0f / 9, 10.0f / 3});
  auto expected = torch::nn::functional::cross_entropy(
      kLogits, kLabels, torch::nn::functional::CrossEntropyFuncOptions().weight(weights).label_smoothing(0.1));
  EXPECT_TRUE(torch::allclose(balanced->compute(kLogits, kLabels), expected));
}

TEST(Losses, ACoarseLabelScoresTheSummedProbabilityOfTheClassesItAccepts) {
  // Labels 0-2 are classes; 3 is "a or b" ([extra_training]).
  const LossContext context{{"a", "b", "c"}, {2, 1, 1}, torch::kCPU, {{0, 1}}};
  const torch::Tensor labels = torch::tensor({0, 3, 2, 3}, torch::kLong);
  auto plain = make<Loss>(kinds::loss, "cross_entropy");
  plain->prepare(context);
  const auto p = torch::softmax(kLogits, 1);
  const auto per_image = -torch::stack({p[0][0].log(), (p[1][0] + p[1][1]).log(), p[2][2].log(),
                                        (p[3][0] + p[3][1]).log()});
  EXPECT_TRUE(torch::allclose(plain->compute(kLogits, labels), per_image.mean()));
  // Class labels alone: still torch's cross-entropy.
  EXPECT_TRUE(torch::allclose(plain->compute(kLogits, kLabels), torch::nn::functional::cross_entropy(kLogits, kLabels)));

  // Balanced weights: a coarse label weighs the mean of its classes' weights (n / (k * count): 4/6, 4/3, 4/3).
  auto balanced = make<Loss>(kinds::loss, "cross_entropy", {{"class_weights", std::string("balanced")}});
  balanced->prepare(context);
  const auto w = torch::tensor({4.0f / 6, (4.0f / 6 + 4.0f / 3) / 2, 4.0f / 3, (4.0f / 6 + 4.0f / 3) / 2});
  EXPECT_TRUE(torch::allclose(balanced->compute(kLogits, labels), (per_image * w).sum() / w.sum()));

  // Its gradient moves probability into the accepted classes, whichever of them.
  auto logits = torch::zeros({1, 3}, torch::requires_grad());
  plain->compute(logits, torch::tensor({3}, torch::kLong)).backward();
  const auto g = logits.grad();
  EXPECT_LT(g[0][0].item<float>(), 0);
  EXPECT_FLOAT_EQ(g[0][0].item<float>(), g[0][1].item<float>());
  EXPECT_GT(g[0][2].item<float>(), 0);

  auto focal = make<Loss>(kinds::loss, "focal");
  try {
    focal->prepare(context);
    FAIL() << "focal took coarse labels";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("does not take coarse labels"), std::string::npos) << error.what();
  }
}

TEST(Losses, FocalWithoutFocusingIsCrossEntropyAndFocusingDownWeightsEasyImages) {
  auto flat = make<Loss>(kinds::loss, "focal", {{"gamma", 0.0}});
  flat->prepare({{"a", "b", "c"}, {1, 1, 1}, torch::kCPU});
  EXPECT_TRUE(torch::allclose(flat->compute(kLogits, kLabels), torch::nn::functional::cross_entropy(kLogits, kLabels)));

  auto focal = make<Loss>(kinds::loss, "focal", {{"gamma", 2.0}, {"alpha", std::vector<double>{0.5, 1.0, 2.0}}});
  focal->prepare({{"a", "b", "c"}, {1, 1, 1}, torch::kCPU});
  // By hand: -alpha_t (1 - p_t)^2 log p_t, averaged.
  auto p = torch::softmax(kLogits, 1).gather(1, kLabels.unsqueeze(1)).squeeze(1);
  auto alpha = torch::tensor({0.5f, 2.0f, 1.0f, 1.0f});
  auto expected = (-alpha * (1 - p).pow(2) * p.log()).mean();
  EXPECT_TRUE(torch::allclose(focal->compute(kLogits, kLabels), expected));

  auto wrong = make<Loss>(kinds::loss, "focal", {{"alpha", std::vector<double>{1.0, 2.0}}});
  EXPECT_THROW(wrong->prepare({{"a", "b", "c"}, {1, 1, 1}, torch::kCPU}), Error);
}

TEST(Optimizers, GroupsGetTheirRatesAndTheRightAlgorithm) {
  auto head = torch::ones({2}, torch::requires_grad()), backbone = torch::ones({2}, torch::requires_grad());
  std::vector<ParameterGroup> groups{{"backbone", {backbone}, 0}, {"head", {head}, 0}};
  auto sgd = make<Optimizer>(kinds::optimizer, "sgd", {{"learning_rate", 0.1}, {"backbone_learning_rate", 0.01},
                                                       {"momentum", 0.0}});
  auto optimizer = sgd->build(groups);
  EXPECT_DOUBLE_EQ(groups[0].learning_rate, 0.01);
  EXPECT_DOUBLE_EQ(groups[1].learning_rate, 0.1);
  (head.sum() + backbone.sum()).backward();
  optimizer->step();
  // Plain SGD: w - lr * grad, with grad 1.
  EXPECT_TRUE(torch::allclose(head, torch::full({2}, 0.9)));
  EXPECT_TRUE(torch::allclose(backbone, torch::full({2}, 0.99)));

  std::vector<ParameterGroup> one{{"head", {torch::ones({1}, torch::requires_grad())}, 0}};
  EXPECT_NE(dynamic_cast<torch::optim::AdamW*>(make<Optimizer>(kinds::optimizer, "adamw")->build(one).get()), nullptr);
  EXPECT_NE(dynamic_cast<torch::optim::Adam*>(make<Optimizer>(kinds::optimizer, "adam")->build(one).get()), nullptr);
  EXPECT_DOUBLE_EQ(one[0].learning_rate, 1e-3);
  EXPECT_THROW(make<Optimizer>(kinds::optimizer, "sgd", {{"momentum", 0.0}, {"nesterov", true}}), Error);
}

TEST(Schedules, WarmUpThenEachShape) {
  auto constant = make<Schedule>(kinds::schedule, "constant", {{"warmup_epochs", std::int64_t{3}}});
  EXPECT_DOUBLE_EQ(factor(*constant, 0, 10), 0.25);
  EXPECT_DOUBLE_EQ(factor(*constant, 2, 10), 0.75);
  EXPECT_DOUBLE_EQ(factor(*constant, 3, 10), 1.0);

  auto step = make<Schedule>(kinds::schedule, "step", {{"step_size", std::int64_t{2}}, {"gamma", 0.5}});
  EXPECT_DOUBLE_EQ(factor(*step, 1, 10), 1.0);
  EXPECT_DOUBLE_EQ(factor(*step, 2, 10), 0.5);
  EXPECT_DOUBLE_EQ(factor(*step, 5, 10), 0.25);

  auto cosine = make<Schedule>(kinds::schedule, "cosine", {{"warmup_epochs", std::int64_t{1}}});
  EXPECT_DOUBLE_EQ(factor(*cosine, 0, 5), 0.5);    // warm-up
  EXPECT_DOUBLE_EQ(factor(*cosine, 1, 5), 1.0);    // first epoch after it
  EXPECT_NEAR(factor(*cosine, 3, 5), 0.5, 1e-12);  // halfway through the 4 remaining
  EXPECT_FALSE(cosine->per_batch());
}

TEST(Schedules, OneCycleRisesToThePeakThenAnneals) {
  auto cycle = make<Schedule>(kinds::schedule, "one_cycle", {{"pct_start", 0.25}, {"div_factor", 10.0},
                                                             {"final_div_factor", 100.0}});
  EXPECT_TRUE(cycle->per_batch());
  // 4 epochs of 10 batches: 40 steps, the peak at step 9.
  EXPECT_NEAR(factor(*cycle, 0, 4, 0, 10), 0.1, 1e-12);
  EXPECT_NEAR(factor(*cycle, 0, 4, 9, 10), 1.0, 1e-12);
  EXPECT_NEAR(factor(*cycle, 3, 4, 9, 10), 0.001, 1e-12);
  double previous = 2;
  for (int step = 9; step < 40; ++step) {
    double f = factor(*cycle, step / 10, 4, static_cast<std::size_t>(step % 10), 10);
    EXPECT_LE(f, previous);
    previous = f;
  }
}

TEST(Schedules, PlateauFollowsAnyMonitoredFigureAndKeepsItsState) {
  auto plateau = make<Schedule>(kinds::schedule, "plateau", {{"monitor", std::string("val_f1")},
                                                             {"patience", std::int64_t{1}}, {"gamma", 0.5}});
  plateau->observe({{"val_f1", 0.5}});
  plateau->observe({{"val_f1", 0.5}});  // one epoch without improvement: within patience
  EXPECT_DOUBLE_EQ(factor(*plateau, 5, 10), 1.0);
  plateau->observe({{"val_f1", 0.4}});  // two: the rate halves
  EXPECT_DOUBLE_EQ(factor(*plateau, 5, 10), 0.5);

  auto resumed = make<Schedule>(kinds::schedule, "plateau", {{"monitor", std::string("val_f1")},
                                                             {"patience", std::int64_t{1}}, {"gamma", 0.5}});
  resumed->restore(plateau->state());
  EXPECT_DOUBLE_EQ(factor(*resumed, 5, 10), 0.5);
  resumed->observe({{"val_f1", 0.6}});
  EXPECT_DOUBLE_EQ(factor(*resumed, 5, 10), 0.5);

  try {
    plateau->observe({{"val_loss", 0.1}, {"val_accuracy", 0.9}});
    FAIL() << "a missing figure must be an error";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("monitor = \"val_f1\" is not among the per-epoch figures: val_accuracy, val_loss"),
              std::string::npos)
        << error.what();
  }
}
