// The spread over folds against figures computed here by hand and Student's t
// quantiles from printed tables.
#include <cmath>

#include <gtest/gtest.h>

#include "cerebra/error.h"
#include "cerebra/experiments.h"

using cerebra::metric_spread;
using cerebra::student_t_quantile;

TEST(FoldStatistics, TQuantilesMatchTheTables) {
  // t_{0.975, df} from any statistics table.
  EXPECT_NEAR(student_t_quantile(0.975, 1), 12.7062, 1e-4);
  EXPECT_NEAR(student_t_quantile(0.975, 4), 2.7764, 1e-4);
  EXPECT_NEAR(student_t_quantile(0.975, 9), 2.2622, 1e-4);
  EXPECT_NEAR(student_t_quantile(0.975, 30), 2.0423, 1e-4);
  EXPECT_NEAR(student_t_quantile(0.95, 4), 2.1318, 1e-4);
  EXPECT_NEAR(student_t_quantile(0.025, 4), -2.7764, 1e-4);
  EXPECT_EQ(student_t_quantile(0.5, 3), 0);
  EXPECT_THROW(student_t_quantile(1.0, 3), cerebra::Error);
}

TEST(FoldStatistics, SpreadIsMeanSampleSdAndTInterval) {
  const std::vector<double> v = {0.80, 0.90, 0.85, 0.95, 0.70};
  double mean = 0;
  for (double x : v) mean += x;
  mean /= 5;
  double squares = 0;
  for (double x : v) squares += (x - mean) * (x - mean);
  const double sd = std::sqrt(squares / 4);
  const double half = 2.7764451052 * sd / std::sqrt(5.0);
  const auto spread = metric_spread(v);
  EXPECT_NEAR(spread.mean, 0.84, 1e-12);
  EXPECT_NEAR(spread.sd, sd, 1e-12);
  EXPECT_NEAR(spread.low, mean - half, 1e-8);
  EXPECT_NEAR(spread.high, mean + half, 1e-8);

  const auto one = metric_spread({0.5});
  EXPECT_EQ(one.sd, 0);
  EXPECT_EQ(one.low, 0.5);
  EXPECT_EQ(one.high, 0.5);
  EXPECT_THROW(metric_spread({}), cerebra::Error);
}
