// The contrastive objective: NT-Xent behaves as it should on views built by
// hand, a run trains without labels and lowers its loss, its checkpoint starts
// a supervised run, and a pipeline that cannot size the projection is told why.
#include <gtest/gtest.h>

#include "cerebra/architecture.h"
#include "cerebra/training.h"
#include "run_support.h"
#include "test_support.h"

namespace cerebra::testing {
namespace {

// Two views of a batch, served as the trainer would.
class Views : public StepInputs {
 public:
  Views(ClassifierModel& model, torch::Tensor first, torch::Tensor second) : model_(model), views_{first, second} {}
  std::size_t views() const override { return 2; }
  const torch::Tensor& input(std::size_t view) const override { return views_[view]; }
  const torch::Tensor& labels() const override { return labels_; }
  ClassifierOutput forward(std::size_t view) override { return model_.forward_all(views_[view]); }
  ClassifierModel& model() override { return model_; }
  const Loss& loss() const override { throw Error("the contrastive objective needs no loss"); }

 private:
  ClassifierModel& model_;
  torch::Tensor views_[2];
  torch::Tensor labels_;
};

struct Prepared {
  std::shared_ptr<ClassifierModel> model;
  std::unique_ptr<Objective> objective;
};

Prepared prepared() {
  torch::manual_seed(3);
  Registry& registry = build_tree_host().registry();
  Parameters cnn;
  cnn.set("input_size", std::int64_t{32});
  Prepared p{registry.create_as<Architecture>(kinds::architecture, "cnn", cnn)->build(2),
             registry.create_as<Objective>(kinds::objective, "contrastive", Parameters{})};
  ObjectiveContext context;
  context.height = context.width = 32;
  p.objective->prepare(*p.model, context);
  return p;
}

TEST(Contrastive, TwinsThatMatchGiveALowerLossThanTwinsThatDoNot) {
  Prepared p = prepared();
  EXPECT_EQ(p.objective->needs().views, 2);
  EXPECT_FALSE(p.objective->needs().labels);
  p.model->eval();  // no dropout: the same image gives the same embedding
  const torch::Tensor images = torch::rand({8, 3, 32, 32});
  Views same(*p.model, images, images.clone());
  Views shuffled(*p.model, images, images.roll(1, 0));
  const double matched = p.objective->step(same).loss.item<double>();
  const double mismatched = p.objective->step(shuffled).loss.item<double>();
  EXPECT_LT(matched, mismatched);
  // With 2n = 16 views, a loss of log(15) means the twin is found no better than chance.
  EXPECT_GT(mismatched, 0.0);
}

TEST(Contrastive, GradientsReachTheFeatureExtractorAndTheProjection) {
  Prepared p = prepared();
  const torch::Tensor images = torch::rand({4, 3, 32, 32});
  Views views(*p.model, images, images.flip(3));
  p.objective->step(views).loss.backward();
  for (const auto& item : p.model->named_parameters()) {
    if (item.key().rfind("conv", 0) != 0) continue;
    const torch::Tensor& grad = item.value().grad();
    EXPECT_TRUE(grad.defined() && grad.abs().sum().template item<double>() > 0) << item.key();
  }
  ASSERT_FALSE(p.objective->parameters().empty());
  for (const auto& parameter : p.objective->parameters()) EXPECT_TRUE(parameter.grad().defined());
}

std::string contrastive_pipeline(int epochs) {
  return tiny_pipeline(epochs) + R"(
[objective]
type = "contrastive"

[[augment]]
type = "random_brightness_contrast"

[[augment]]
type = "random_affine"
)";
}

TEST(Contrastive, ARunLearnsWithoutLabelsAndItsCheckpointStartsASupervisedRun) {
  TempDir dir;
  write_text(dir.file("pretrain.toml"), contrastive_pipeline(4));
  auto pretrain = run_command(cli() + " run " + dir.file("pretrain.toml") + " --set run.output=" + dir.file("pre"));
  ASSERT_EQ(pretrain.exit_code, 0) << pretrain.output;
  EXPECT_NE(pretrain.output.find("best checkpoint is the one with the lowest train_loss"), std::string::npos)
      << pretrain.output;
  const auto run = only_run(dir.file("pre"));
  EXPECT_EQ(read_json(run / "summary.json")["monitor"], "train_loss");
  const auto metrics = read_metrics(run);
  ASSERT_EQ(metrics.size(), 4u);
  EXPECT_LT(metrics.back()["train_loss"].get<double>(), metrics.front()["train_loss"].get<double>())
      << "the contrastive loss did not fall over four epochs";

  write_text(dir.file("finetune.toml"), tiny_pipeline(1));
  auto finetune = run_command(cli() + " run " + dir.file("finetune.toml") + " --set run.output=" + dir.file("fine") +
                              " --set transfer.mode=full --set transfer.weights=" + dir.file("pre") + "/tiny");
  ASSERT_EQ(finetune.exit_code, 0) << finetune.output;
  // "pre/tiny" names the newest run of that name, so configs need not know when pretraining ran.
  EXPECT_NE(finetune.output.find("is the run " + run.string() + " (the newest of that name)"), std::string::npos)
      << finetune.output;
  const std::string loaded = read_text(only_run(dir.file("fine")) / "weights.txt");
  EXPECT_EQ(loaded.rfind("Loaded ", 0), 0u) << loaded;
  EXPECT_EQ(loaded.find("Loaded 0 of"), std::string::npos) << loaded;
}

TEST(Contrastive, WithoutAFixedInputSizeTheProjectionCannotBeSized) {
  TempDir dir;
  std::string pipeline = contrastive_pipeline(1);
  pipeline.replace(pipeline.find("[[preprocess]]\ntype = \"resize\"\nsize = 32\n"),
                   std::string("[[preprocess]]\ntype = \"resize\"\nsize = 32\n").size(), "");
  write_text(dir.file("p.toml"), pipeline);
  auto result = run_command(cli() + " run " + dir.file("p.toml") + " --set run.output=" + dir.file("out"));
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_NE(result.output.find("contrastive: the preprocess stages do not fix the input size"), std::string::npos)
      << result.output;
}

}  // namespace
}  // namespace cerebra::testing
