// BatchDropout: masks keyed to the step's seed and each image's place in the
// global batch, so the halves of a batch get the whole batch's masks.
#include <gtest/gtest.h>

#include "cerebra/batch_dropout.h"
#include "cerebra/error.h"

using namespace cerebra;

namespace {

constexpr double kP = 0.3;

// The keep-mask a BatchDropout layer applied to `rows` images of 40
// features at `offset` of a global batch, read back from ones.
torch::Tensor applied_mask(std::uint64_t seed, std::int64_t offset, std::int64_t rows, std::int64_t global) {
  BatchDropout dropout(kP);
  dropout->train();
  BatchSliceScope scope({seed, offset, global});
  return dropout->forward(torch::ones({rows, 40})) * (1.0 - kP);
}

TEST(BatchDropout, TwoHalvesOfABatchGetTheWholeBatchsMasks) {
  const torch::Tensor whole = applied_mask(11, 0, 16, 16);
  const torch::Tensor first = applied_mask(11, 0, 8, 16);
  const torch::Tensor second = applied_mask(11, 8, 8, 16);
  EXPECT_TRUE(torch::allclose(torch::cat({first, second}), whole, 0, 1e-6));
  // Real masks: some dropped, most kept, only zeros and ones.
  const double kept = whole.mean().item<double>();
  EXPECT_GT(kept, 0.5);
  EXPECT_LT(kept, 0.9);
  EXPECT_LT((whole - whole.round()).abs().max().item<double>(), 1e-5);
  EXPECT_TRUE(whole.round().eq(0).logical_or(whole.round().eq(1)).all().item<bool>());
}

TEST(BatchDropout, TheSeedDecidesTheMasks) {
  EXPECT_TRUE(torch::equal(applied_mask(5, 0, 16, 16), applied_mask(5, 0, 16, 16)));
  EXPECT_FALSE(torch::equal(applied_mask(5, 0, 16, 16), applied_mask(6, 0, 16, 16)));
}

TEST(BatchDropout, TwoLayersInOneStepDrawDifferentMasks) {
  BatchDropout first(kP), second(kP);
  BatchSliceScope scope({3, 0, 16});
  const auto ones = torch::ones({16, 40});
  EXPECT_FALSE(torch::equal(first->forward(ones), second->forward(ones)));
}

TEST(BatchDropout, KeepsTheExpectedShareAndScalesTheKeptValues) {
  BatchDropout dropout(kP);
  BatchSliceScope scope({9, 0, 200});
  const torch::Tensor out = dropout->forward(torch::ones({200, 500}));
  EXPECT_NEAR(out.ne(0).to(torch::kDouble).mean().item<double>(), 1.0 - kP, 0.01);
  EXPECT_NEAR(out.max().item<double>(), 1.0 / (1.0 - kP), 1e-5);
  EXPECT_NEAR(out.mean().item<double>(), 1.0, 0.02);  // unbiased, as torch's dropout
}

TEST(BatchDropout, EvaluationAndCodeOutsideAScopeBehaveAsTorchsDropout) {
  BatchDropout dropout(kP);
  const auto input = torch::rand({8, 40});
  dropout->eval();
  {
    BatchSliceScope scope({1, 0, 8});
    EXPECT_TRUE(torch::equal(dropout->forward(input), input));
  }
  dropout->train();
  const torch::Tensor out = dropout->forward(input);  // no scope: torch's own dropout
  EXPECT_GT(out.eq(0).sum().item<int>(), 0);
  EXPECT_FALSE(torch::equal(dropout->forward(input), out));
  // It is a torch::nn::Dropout for code that looks for one (export).
  EXPECT_NE(dropout.ptr()->as<torch::nn::Dropout>(), nullptr);
}

TEST(BatchDropout, ASliceOutsideTheGlobalBatchIsAnError) {
  BatchDropout dropout(kP);
  BatchSliceScope scope({1, 12, 16});
  try {
    dropout->forward(torch::ones({8, 4}));
    FAIL() << "expected an error";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("8 images at offset 12 does not fit a global batch of 16"),
              std::string::npos)
        << error.what();
  }
}

TEST(BatchDropout, ScopesNestAndRestore) {
  const torch::Tensor outer_first = applied_mask(21, 0, 4, 4);
  BatchDropout dropout(kP);
  BatchSliceScope outer({21, 0, 4});
  { BatchSliceScope inner({99, 0, 4}); }
  // The inner scope is gone: the outer scope's first draw is unchanged.
  EXPECT_TRUE(torch::allclose(dropout->forward(torch::ones({4, 40})) * (1.0 - kP), outer_first, 0, 1e-6));
}

}  // namespace
