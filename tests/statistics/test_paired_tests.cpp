// The statistics library against values worked out independently: McNemar's
// exact p from binomial sums done by hand (and, for a large case, by Python's
// exact fractions and the normal approximation), the t distribution's p from
// closed forms (1 and 2 degrees of freedom), a t table, and a numerical
// integration of the t density (Python, Simpson's rule, 200,000 steps; scipy
// is not installed here).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "cerebra/error.h"
#include "cerebra/statistics.h"

namespace {

using namespace cerebra::statistics;

TEST(StatisticsMcNemar, SmallCasesMatchHandComputedBinomialSums) {
  // b=0, c=5: 2 * (1/2)^5 = 1/16.
  EXPECT_NEAR(mcnemar_exact_p(0, 5), 0.0625, 1e-12);
  EXPECT_NEAR(mcnemar_exact_p(5, 0), 0.0625, 1e-12);
  // b=1, c=6: 2 * (1 + 7) / 128 = 1/8.
  EXPECT_NEAR(mcnemar_exact_p(1, 6), 0.125, 1e-12);
  // b=2, c=8: 2 * (1 + 10 + 45) / 1024 = 7/64.
  EXPECT_NEAR(mcnemar_exact_p(2, 8), 7.0 / 64, 1e-12);
  // b=10, c=20: 2 * sum_{k<=10} C(30,k) / 2^30 = 26504551 / 268435456.
  EXPECT_NEAR(mcnemar_exact_p(10, 20), 26504551.0 / 268435456.0, 1e-12);
  // b = c: the tail holds more than half the mass, so p is capped at 1.
  EXPECT_DOUBLE_EQ(mcnemar_exact_p(3, 3), 1.0);
  EXPECT_DOUBLE_EQ(mcnemar_exact_p(250, 250), 1.0);
  EXPECT_DOUBLE_EQ(mcnemar_exact_p(0, 1), 1.0);
  EXPECT_DOUBLE_EQ(mcnemar_exact_p(0, 0), 1.0);
  EXPECT_THROW(mcnemar_exact_p(-1, 3), cerebra::Error);
}

TEST(StatisticsMcNemar, LargeCasesAgreeWithTheNormalApproximation) {
  // b=1000, c=1100: exact 0.0307207 (Python fractions); continuity-corrected
  // normal approximation 2 * (1 - Phi(99 / sqrt(2100))) = 0.0307450.
  const double p = mcnemar_exact_p(1000, 1100);
  EXPECT_NEAR(p, 0.030720707864242296, 1e-9);
  EXPECT_NEAR(p, 0.03074503475899322, 5e-4);
  // Far beyond what a direct binomial coefficient could hold: still finite and tiny.
  const double tiny = mcnemar_exact_p(40000, 50000);
  EXPECT_GT(tiny, 0.0);
  EXPECT_LT(tiny, 1e-100);
  EXPECT_TRUE(std::isfinite(tiny));
  EXPECT_NEAR(mcnemar_exact_p(50000, 50100), std::erfc((100 - 1) / std::sqrt(100100.0) / std::sqrt(2.0)), 1e-3);
}

std::vector<bool> outcomes(const std::string& pattern) {
  std::vector<bool> out;
  for (char c : pattern) out.push_back(c == '1');
  return out;
}

TEST(StatisticsBootstrap, IntervalCoversTheObservedDifferenceAndRepeatsWithTheSeed) {
  // 40 images: both right on 24, only the second right on 8, only the first on 2, both wrong on 6.
  std::string first, second;
  first += std::string(24, '1') + std::string(8, '0') + std::string(2, '1') + std::string(6, '0');
  second += std::string(24, '1') + std::string(8, '1') + std::string(2, '0') + std::string(6, '0');
  const auto a = outcomes(first), b = outcomes(second);
  const PairedComparison result = compare_paired(a, b, 2000, 17);
  EXPECT_EQ(result.images, 40u);
  EXPECT_EQ(result.both_correct, 24);
  EXPECT_EQ(result.only_first_correct, 2);
  EXPECT_EQ(result.only_second_correct, 8);
  EXPECT_EQ(result.both_wrong, 6);
  EXPECT_DOUBLE_EQ(result.first_accuracy, 26.0 / 40);
  EXPECT_DOUBLE_EQ(result.second_accuracy, 32.0 / 40);
  EXPECT_DOUBLE_EQ(result.difference, 6.0 / 40);
  EXPECT_NEAR(result.mcnemar_p, 7.0 / 64, 1e-12);  // b=2, c=8 as above
  EXPECT_FALSE(result.significant());
  EXPECT_LE(result.interval.low, result.difference);
  EXPECT_GE(result.interval.high, result.difference);
  // The difference's standard error is about sqrt((b + c) / n^2) = 0.079: a 95% interval spans about 0.3.
  EXPECT_GT(result.interval.high - result.interval.low, 0.15);
  EXPECT_LT(result.interval.high - result.interval.low, 0.45);

  const BootstrapInterval again = paired_bootstrap_accuracy_difference(a, b, 2000, 17);
  EXPECT_EQ(again.low, result.interval.low);
  EXPECT_EQ(again.high, result.interval.high);
  // Another seed draws other resamples; the interval moves a little (it must
  // not be the same numbers, or the seed is not used).
  const BootstrapInterval other = paired_bootstrap_accuracy_difference(a, b, 2000, 18);
  EXPECT_TRUE(other.low != result.interval.low || other.high != result.interval.high);
  EXPECT_NEAR(other.low, result.interval.low, 0.06);

  // Identical runs: every resample's difference is 0.
  const BootstrapInterval same = paired_bootstrap_accuracy_difference(a, a, 500, 1);
  EXPECT_EQ(same.low, 0.0);
  EXPECT_EQ(same.high, 0.0);
  EXPECT_THROW(compare_paired(a, outcomes("101"), 10, 1), cerebra::Error);
  EXPECT_THROW(compare_paired({}, {}, 10, 1), cerebra::Error);
}

TEST(StatisticsBootstrap, ClearDifferenceGivesAnIntervalAwayFromZero) {
  // 200 images, only the second right on 40, only the first on 5.
  std::vector<bool> a(200, true), b(200, true);
  for (int i = 0; i < 40; ++i) a[i] = false;
  for (int i = 40; i < 45; ++i) b[i] = false;
  const PairedComparison result = compare_paired(a, b);
  EXPECT_TRUE(result.significant());
  EXPECT_LT(result.mcnemar_p, 1e-6);
  EXPECT_GT(result.interval.low, 0.0);
  EXPECT_DOUBLE_EQ(result.difference, 35.0 / 200);
  EXPECT_EQ(result.resamples, kDefaultResamples);
  EXPECT_EQ(result.seed, kDefaultSeed);
}

TEST(StatisticsPairing, ImagesAreMatchedByIdAndDifferentSetsAreNamed) {
  const PairedOutcomes paired = pair_outcomes({{"a.png", true}, {"b.png", false}, {"c.png", true}},
                                              {{"c.png", false}, {"a.png", true}, {"b.png", true}});
  EXPECT_EQ(paired.mismatch, "");
  EXPECT_EQ(paired.first_correct, outcomes("101"));
  EXPECT_EQ(paired.second_correct, outcomes("110"));

  const PairedOutcomes count = pair_outcomes({{"a.png", true}, {"b.png", true}}, {{"a.png", true}});
  EXPECT_EQ(count.mismatch, "2 test images against 1");
  EXPECT_TRUE(count.first_correct.empty());

  const PairedOutcomes ids = pair_outcomes({{"a.png", true}, {"b.png", true}, {"x.png", true}},
                                           {{"a.png", true}, {"b.png", true}, {"y.png", true}});
  EXPECT_EQ(ids.mismatch, "1 of 3 test images of the first run are not in the second, e.g. 'x.png'");
  EXPECT_TRUE(ids.first_correct.empty());

  const PairedOutcomes twice = pair_outcomes({{"a.png", true}, {"a.png", true}}, {{"a.png", true}, {"b.png", true}});
  EXPECT_NE(twice.mismatch, "");
}

TEST(StatisticsTTest, KnownExampleOverFiveFolds) {
  // Fold accuracies of two models; differences 0.02, 0.01, 0.03, 0.01, 0.01:
  // mean 0.016, sd sqrt(0.00032 / 4) = 0.0089443, t = 0.016 / (0.0089443 / sqrt 5) = 4.0, df 4.
  // P(|T_4| >= 4) = 0.0161301 (numerical integration of the t density).
  const PairedTTest result = paired_t_test({0.90, 0.92, 0.88, 0.91, 0.89}, {0.92, 0.93, 0.91, 0.92, 0.90});
  EXPECT_EQ(result.pairs, 5u);
  EXPECT_EQ(result.degrees_of_freedom, 4);
  EXPECT_NEAR(result.mean_difference, 0.016, 1e-12);
  EXPECT_NEAR(result.standard_deviation, std::sqrt(0.00008), 1e-12);
  EXPECT_NEAR(result.t, 4.0, 1e-9);
  EXPECT_NEAR(result.p_value, 0.016130089900085687, 1e-7);

  // Swapping the models flips the sign, not the p-value.
  const PairedTTest swapped = paired_t_test({0.92, 0.93, 0.91, 0.92, 0.90}, {0.90, 0.92, 0.88, 0.91, 0.89});
  EXPECT_NEAR(swapped.t, -4.0, 1e-9);
  EXPECT_NEAR(swapped.p_value, result.p_value, 1e-12);
}

TEST(StatisticsTTest, TDistributionMatchesClosedFormsAndTheTable) {
  // df 1 is Cauchy: P(|T| >= 1) = 1 - (2/pi) atan(1) = 0.5.
  EXPECT_NEAR(student_t_two_sided_p(1.0, 1), 0.5, 1e-12);
  // df 2: P(|T| >= t) = 1 - t / sqrt(2 + t^2); t = 2: 1 - 2/sqrt(6).
  EXPECT_NEAR(student_t_two_sided_p(2.0, 2), 1 - 2 / std::sqrt(6.0), 1e-12);
  EXPECT_NEAR(student_t_two_sided_p(-2.0, 2), 1 - 2 / std::sqrt(6.0), 1e-12);
  // A t table's two-sided 5% critical values: 12.706 (df 1), 2.776 (df 4), 2.262 (df 9), 1.960 (df infinite).
  EXPECT_NEAR(student_t_two_sided_p(12.706, 1), 0.05, 1e-4);
  EXPECT_NEAR(student_t_two_sided_p(2.776, 4), 0.05002277831995838, 1e-7);
  EXPECT_NEAR(student_t_two_sided_p(2.262, 9), 0.05001284550246232, 1e-7);
  EXPECT_NEAR(student_t_two_sided_p(1.96, 1e6), 0.05, 1e-4);
  EXPECT_DOUBLE_EQ(student_t_two_sided_p(0.0, 4), 1.0);
  EXPECT_DOUBLE_EQ(student_t_two_sided_p(std::numeric_limits<double>::infinity(), 4), 0.0);

  // I_x(a, 1) = x^a and I_x(1, b) = 1 - (1 - x)^b.
  EXPECT_NEAR(regularized_incomplete_beta(3, 1, 0.4), 0.064, 1e-12);
  EXPECT_NEAR(regularized_incomplete_beta(1, 2.5, 0.3), 1 - std::pow(0.7, 2.5), 1e-12);
  EXPECT_THROW(regularized_incomplete_beta(0, 1, 0.5), cerebra::Error);
  EXPECT_THROW(regularized_incomplete_beta(1, 1, 1.5), cerebra::Error);
}

TEST(StatisticsTTest, DegenerateInputs) {
  const PairedTTest same = paired_t_test({0.9, 0.8, 0.7}, {0.9, 0.8, 0.7});
  EXPECT_EQ(same.p_value, 1.0);
  EXPECT_EQ(same.t, 0.0);
  const PairedTTest shifted = paired_t_test({0.5, 0.6, 0.7}, {0.75, 0.85, 0.95});
  EXPECT_EQ(shifted.p_value, 0.0);
  EXPECT_TRUE(std::isinf(shifted.t));
  EXPECT_THROW(paired_t_test({0.9}, {0.8}), cerebra::Error);
  EXPECT_THROW(paired_t_test({0.9, 0.8}, {0.8}), cerebra::Error);
}

}  // namespace
