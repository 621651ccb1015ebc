// Statistics between models: whether one model's test figures really differ
// from another's. `cerebra compare` uses the paired tests on one test split
// (McNemar's exact test, a paired bootstrap of the accuracy difference); the
// paired t-test over folds is there for k-fold results. Plain numbers in,
// plain numbers out: no torch, no run directories.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace cerebra::statistics {

// Two runs' outcomes on the same test images, image i of one run matched to
// image i of the other (true: the run classified that image correctly).
struct PairedOutcomes {
  std::vector<bool> first_correct, second_correct;
  // Why the two test sets cannot be paired ("" when they can): a different
  // number of images, or ids of one that the other lacks. A test between
  // different image sets would compare the sets, not the models.
  std::string mismatch;
};

// Matches two runs' test images by id (file name or generated id). Each item
// is (id, classified correctly). The order within each run does not matter.
PairedOutcomes pair_outcomes(const std::vector<std::pair<std::string, bool>>& first,
                             const std::vector<std::pair<std::string, bool>>& second);

// Two-sided exact McNemar test: the discordant pairs b (only the first run
// right) and c (only the second right), p = min(1, 2 P(X <= min(b, c))) with
// X ~ Binomial(b + c, 1/2). Summed in log space, so b + c in the millions is
// exact to rounding. b = c = 0 gives 1.
double mcnemar_exact_p(long b, long c);

struct BootstrapInterval {
  double low = 0, high = 0;
};

// A percentile interval of the accuracy difference (second minus first):
// `resamples` draws of the test images with replacement, the same draw for
// both runs, from a generator seeded with `seed` (so the same inputs give the
// same interval on every machine: the draw does not use
// std::uniform_int_distribution, whose algorithm differs between libraries).
BootstrapInterval paired_bootstrap_accuracy_difference(const std::vector<bool>& first_correct,
                                                       const std::vector<bool>& second_correct,
                                                       int resamples, std::uint64_t seed,
                                                       double confidence = 0.95);

// What `compare` reports for a pair of runs on the same test images.
struct PairedComparison {
  std::size_t images = 0;
  long both_correct = 0, only_first_correct = 0 /* b */, only_second_correct = 0 /* c */, both_wrong = 0;
  double first_accuracy = 0, second_accuracy = 0;
  double difference = 0;  // second_accuracy - first_accuracy
  double mcnemar_p = 1;
  BootstrapInterval interval;  // of `difference`
  int resamples = 0;
  std::uint64_t seed = 0;
  double confidence = 0.95;
  bool significant(double alpha = 0.05) const { return mcnemar_p < alpha; }
};

inline constexpr int kDefaultResamples = 2000;
inline constexpr std::uint64_t kDefaultSeed = 20240607;

// McNemar and the bootstrap on paired outcomes; Error when they are empty or
// of different lengths.
PairedComparison compare_paired(const std::vector<bool>& first_correct, const std::vector<bool>& second_correct,
                                int resamples = kDefaultResamples, std::uint64_t seed = kDefaultSeed,
                                double confidence = 0.95);

// Paired t-test over folds: per-fold metric differences (second - first),
// t = mean / (sd / sqrt(n)) with n - 1 degrees of freedom, and the two-sided
// p-value of Student's t from the regularised incomplete beta function,
// p = I_{df / (df + t^2)}(df / 2, 1 / 2). A t-test rather than Wilcoxon's
// signed-rank test: with 5 or 10 folds the signed-rank test cannot reach
// p < 0.05 at 5 folds (its smallest two-sided p is 2/32), while the t-test's
// assumption (differences roughly normal) is the usual one for k-fold means.
// Nadeau and Bengio's correction for overlapping training sets is not
// applied; the p-value is optimistic for k-fold, as it is in most papers.
struct PairedTTest {
  std::size_t pairs = 0;
  double mean_difference = 0, standard_deviation = 0;
  double t = 0;  // +-infinity when every difference is the same non-zero value
  int degrees_of_freedom = 0;
  double p_value = 1;
};

// Error when the lists differ in length or hold fewer than two pairs.
PairedTTest paired_t_test(const std::vector<double>& first, const std::vector<double>& second);

// Two-sided p-value of Student's t distribution: P(|T| >= |t|), df > 0.
double student_t_two_sided_p(double t, double degrees_of_freedom);

// The regularised incomplete beta function I_x(a, b), a, b > 0, x in [0, 1]
// (continued fraction, Lentz's method).
double regularized_incomplete_beta(double a, double b, double x);

}  // namespace cerebra::statistics
