// Tests of the classification metrics plugin, loaded from the build as the
// host loads it. Expected figures are worked out by hand in the comments.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cerebra/error.h"
#include "cerebra/metric.h"
#include "cerebra/plugin_loader.h"
#include "cerebra/registry.h"

namespace {

constexpr double kTolerance = 1e-6;

struct Data {
  std::size_t classes = 0;
  std::vector<float> probabilities;
  std::vector<std::int64_t> labels;

  void add(std::vector<float> row, std::int64_t label) {
    probabilities.insert(probabilities.end(), row.begin(), row.end());
    labels.push_back(label);
  }
  std::size_t size() const { return labels.size(); }
};

// Rows whose argmax reproduces `matrix` (rows = true class, columns =
// predicted): 0.7 on the predicted class, the rest shared by the others.
Data from_matrix(const std::vector<std::vector<int>>& matrix) {
  Data data;
  data.classes = matrix.size();
  const std::size_t k = matrix.size();
  for (std::size_t t = 0; t < k; ++t) {
    for (std::size_t p = 0; p < k; ++p) {
      for (int n = 0; n < matrix[t][p]; ++n) {
        std::vector<float> row(k, k == 1 ? 1.0f : 0.3f / static_cast<float>(k - 1));
        if (k > 1) row[p] = 0.7f;
        data.add(row, static_cast<std::int64_t>(t));
      }
    }
  }
  return data;
}

// Softmax rows that lean towards the true class, so every metric lands
// somewhere between chance and perfect.
Data random_data(std::size_t k, std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  Data data;
  data.classes = k;
  for (std::size_t i = 0; i < n; ++i) {
    auto label = static_cast<std::int64_t>(rng() % k);
    std::vector<double> logits(k);
    for (auto& l : logits) l = 3.0 * uniform(rng);
    logits[static_cast<std::size_t>(label)] += 1.5;
    double sum = 0.0;
    for (auto& l : logits) sum += (l = std::exp(l));
    std::vector<float> row;
    for (auto l : logits) row.push_back(static_cast<float>(l / sum));
    data.add(row, label);
  }
  return data;
}

cerebra::MetricContext context(std::vector<std::string> names, int positive = -1,
                               std::int64_t bootstrap = 0, std::uint64_t seed = 7) {
  cerebra::MetricContext c;
  c.class_names = std::move(names);
  c.positive_class = positive;
  c.bootstrap = bootstrap;
  c.bootstrap_seed = seed;
  return c;
}

const std::vector<std::string> kAllMetrics = {
    "accuracy", "precision",        "sensitivity", "specificity", "f1",
    "balanced_accuracy", "worst_class_recall", "confusion_matrix", "roc_auc", "calibration"};

// Lower case so that `ctest -R metric` selects these tests.
class metrics : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto& record = loader_.load(std::string(CEREBRA_PLUGIN_DIR) +
                                      "/libcerebra_classification_metrics.so");
    ASSERT_EQ(record.status, cerebra::PluginStatus::Loaded) << record.message;
  }

  std::unique_ptr<cerebra::Metric> make(const std::string& name,
                                        const cerebra::Parameters& parameters = {}) {
    return registry_.create_as<cerebra::Metric>(cerebra::kinds::metric, name, parameters);
  }

  nlohmann::json evaluate(const std::string& name, const cerebra::MetricContext& c,
                          const Data& data, const cerebra::Parameters& parameters = {}) {
    auto metric = make(name, parameters);
    metric->reset(c);
    metric->update(data.probabilities.data(), data.labels.data(), data.size());
    return metric->compute();
  }

  cerebra::Registry registry_;
  cerebra::PluginLoader loader_{registry_};
};

double number(const nlohmann::json& j) {
  EXPECT_TRUE(j.is_number()) << j.dump();
  return j.is_number() ? j.get<double>() : std::nan("");
}

// --- registration ----------------------------------------------------------

TEST_F(metrics, RegistersEveryMetricWithACompleteSchema) {
  auto names = registry_.names(cerebra::kinds::metric);
  for (const auto& name : kAllMetrics) {
    const auto* info = registry_.try_find(cerebra::kinds::metric, name);
    ASSERT_NE(info, nullptr) << name;
    EXPECT_FALSE(info->summary.empty()) << name;
    EXPECT_TRUE(info->schema.problems().empty()) << name;
  }
  EXPECT_EQ(names.size(), kAllMetrics.size());
  ASSERT_NE(registry_.find(cerebra::kinds::metric, "calibration").schema.find("bins"), nullptr);
  ASSERT_NE(registry_.find(cerebra::kinds::metric, "f1").schema.find("average"), nullptr);
}

// --- three classes, every class predicted and present ------------------------
//
//              predicted g  m  p   support
//   true g               3  1  0   4
//   true m               1  2  1   4
//   true p               0  0  2   2
//   predicted            4  3  3   N = 10, correct = 7
const std::vector<std::vector<int>> kThree = {{3, 1, 0}, {1, 2, 1}, {0, 0, 2}};
const std::vector<std::string> kThreeNames = {"g", "m", "p"};

TEST_F(metrics, ThreeClassConfusionMatrixAndAccuracy) {
  auto data = from_matrix(kThree);
  auto cm = evaluate("confusion_matrix", context(kThreeNames), data);
  EXPECT_EQ(cm["matrix"], nlohmann::json::parse("[[3,1,0],[1,2,1],[0,0,2]]"));
  EXPECT_EQ(cm["classes"], nlohmann::json(kThreeNames));
  EXPECT_EQ(cm["count"], 10);
  EXPECT_NEAR(number(cm["value"]), 0.7, kTolerance);  // 7 / 10
  EXPECT_NEAR(number(cm["normalized"][1][2]), 0.25, kTolerance);  // 1 / 4

  auto acc = evaluate("accuracy", context(kThreeNames), data);
  EXPECT_NEAR(number(acc["value"]), 0.7, kTolerance);
  // Per class = fraction of the class classified correctly: 3/4, 2/4, 2/2.
  EXPECT_NEAR(number(acc["per_class"]["g"]), 0.75, kTolerance);
  EXPECT_NEAR(number(acc["per_class"]["m"]), 0.5, kTolerance);
  EXPECT_NEAR(number(acc["per_class"]["p"]), 1.0, kTolerance);
  EXPECT_NEAR(number(acc["weighted"]), 0.7, kTolerance);
  EXPECT_NEAR(number(acc["macro"]), 0.75, kTolerance);
  EXPECT_FALSE(acc.contains("binary"));
}

TEST_F(metrics, ThreeClassPrecisionRecallSpecificityF1) {
  auto data = from_matrix(kThree);
  auto c = context(kThreeNames);

  // Precision = TP / predicted: g 3/4, m 2/3, p 2/3.
  // macro = (0.75 + 2/3 + 2/3) / 3 = 0.694444; weighted by support 4, 4, 2:
  // (3 + 8/3 + 4/3) / 10 = 0.7.
  auto precision = evaluate("precision", c, data);
  EXPECT_NEAR(number(precision["per_class"]["g"]), 0.75, kTolerance);
  EXPECT_NEAR(number(precision["per_class"]["m"]), 2.0 / 3.0, kTolerance);
  EXPECT_NEAR(number(precision["per_class"]["p"]), 2.0 / 3.0, kTolerance);
  EXPECT_NEAR(number(precision["macro"]), (0.75 + 4.0 / 3.0) / 3.0, kTolerance);
  EXPECT_NEAR(number(precision["weighted"]), 0.7, kTolerance);
  EXPECT_NEAR(number(precision["value"]), number(precision["macro"]), kTolerance);
  EXPECT_EQ(precision["average"], "macro");
  EXPECT_TRUE(precision["undefined"].empty());

  // Recall = TP / support: 3/4, 2/4, 2/2; macro 0.75, weighted 7/10.
  auto recall = evaluate("sensitivity", c, data);
  EXPECT_NEAR(number(recall["per_class"]["m"]), 0.5, kTolerance);
  EXPECT_NEAR(number(recall["macro"]), 0.75, kTolerance);
  EXPECT_NEAR(number(recall["weighted"]), 0.7, kTolerance);

  // Specificity = TN / (TN + FP), TN = N - support - predicted + TP:
  // g: TN = 10-4-4+3 = 5, FP = 1 -> 5/6; m: TN = 10-4-3+2 = 5, FP = 1 -> 5/6;
  // p: TN = 10-2-3+2 = 7, FP = 1 -> 7/8.
  // macro = (5/6 + 5/6 + 7/8) / 3 = 0.847222;
  // weighted = (5/6*4 + 5/6*4 + 7/8*2) / 10 = 0.841667.
  auto specificity = evaluate("specificity", c, data);
  EXPECT_NEAR(number(specificity["per_class"]["g"]), 5.0 / 6.0, kTolerance);
  EXPECT_NEAR(number(specificity["per_class"]["p"]), 7.0 / 8.0, kTolerance);
  EXPECT_NEAR(number(specificity["macro"]), (10.0 / 6.0 + 7.0 / 8.0) / 3.0, kTolerance);
  EXPECT_NEAR(number(specificity["weighted"]), (40.0 / 6.0 + 7.0 / 4.0) / 10.0, kTolerance);

  // F1 = 2TP / (2TP + FP + FN): g 6/8, m 4/7, p 4/5.
  // macro = (0.75 + 4/7 + 0.8) / 3 = 0.707143; weighted = (3 + 16/7 + 1.6) / 10.
  auto f1 = evaluate("f1", c, data);
  EXPECT_NEAR(number(f1["per_class"]["g"]), 0.75, kTolerance);
  EXPECT_NEAR(number(f1["per_class"]["m"]), 4.0 / 7.0, kTolerance);
  EXPECT_NEAR(number(f1["per_class"]["p"]), 0.8, kTolerance);
  EXPECT_NEAR(number(f1["macro"]), (0.75 + 4.0 / 7.0 + 0.8) / 3.0, kTolerance);
  EXPECT_NEAR(number(f1["weighted"]), (3.0 + 16.0 / 7.0 + 1.6) / 10.0, kTolerance);

  // Balanced accuracy = macro recall = 0.75.
  auto balanced = evaluate("balanced_accuracy", c, data);
  EXPECT_NEAR(number(balanced["value"]), 0.75, kTolerance);
}

TEST_F(metrics, AverageParameterChoosesTheHeadline) {
  auto data = from_matrix(kThree);
  cerebra::Parameters weighted;
  weighted.set("average", std::string("weighted"));
  auto f1 = evaluate("f1", context(kThreeNames), data, weighted);
  EXPECT_EQ(f1["average"], "weighted");
  EXPECT_NEAR(number(f1["value"]), (3.0 + 16.0 / 7.0 + 1.6) / 10.0, kTolerance);

  // "binary" needs two classes and a positive class: refused at reset.
  cerebra::Parameters binary;
  binary.set("average", std::string("binary"));
  auto metric = make("precision", binary);
  EXPECT_THROW(metric->reset(context(kThreeNames)), cerebra::Error);
  EXPECT_THROW(metric->reset(context({"a", "b"})), cerebra::Error);
  EXPECT_NO_THROW(metric->reset(context({"a", "b"}, 1)));

  cerebra::Parameters bogus;
  bogus.set("average", std::string("micro"));
  EXPECT_THROW(make("f1", bogus), cerebra::Error);
}

// --- a class never predicted, a class absent from the labels ---------------
//
//              predicted a  b  c  d   support
//   true a               2  0  0  1   3
//   true b               1  2  0  0   3
//   true c               0  1  0  0   1   <- c is never predicted
//   true d               0  0  0  0   0   <- d is absent from the labels
//   predicted            3  3  0  1   N = 7, correct = 4
const std::vector<std::vector<int>> kGaps = {
    {2, 0, 0, 1}, {1, 2, 0, 0}, {0, 1, 0, 0}, {0, 0, 0, 0}};
const std::vector<std::string> kGapNames = {"a", "b", "c", "d"};

TEST_F(metrics, ClassNeverPredictedAndClassAbsent) {
  auto data = from_matrix(kGaps);
  auto c = context(kGapNames);

  // Precision: a 2/3, b 2/3, c undefined -> 0 (it has a sample, so it counts),
  // d 0/1 = 0 (predicted once, wrongly). macro = (4/3) / 4 = 1/3;
  // weighted = (2/3*3 + 2/3*3 + 0*1 + 0*0) / 7 = 4/7.
  auto precision = evaluate("precision", c, data);
  EXPECT_NEAR(number(precision["per_class"]["c"]), 0.0, kTolerance);
  EXPECT_NEAR(number(precision["per_class"]["d"]), 0.0, kTolerance);
  EXPECT_EQ(precision["undefined"], nlohmann::json::array({"c"}));
  EXPECT_NEAR(number(precision["macro"]), 1.0 / 3.0, kTolerance);
  EXPECT_NEAR(number(precision["weighted"]), 4.0 / 7.0, kTolerance);

  // Recall: a 2/3, b 2/3, c 0/1, d undefined (null, left out).
  // macro = (2/3 + 2/3 + 0) / 3 = 4/9.
  auto recall = evaluate("sensitivity", c, data);
  EXPECT_TRUE(recall["per_class"]["d"].is_null());
  EXPECT_NEAR(number(recall["per_class"]["c"]), 0.0, kTolerance);
  EXPECT_EQ(recall["undefined"], nlohmann::json::array({"d"}));
  EXPECT_NEAR(number(recall["macro"]), 4.0 / 9.0, kTolerance);
  EXPECT_NEAR(number(recall["weighted"]), 4.0 / 7.0, kTolerance);

  // F1 = 2TP / (2TP + FP + FN): a 4/6, b 4/6, c 0/1 = 0, d 0/1 = 0; all defined.
  // macro = (4/3) / 4 = 1/3.
  auto f1 = evaluate("f1", c, data);
  EXPECT_TRUE(f1["undefined"].empty());
  EXPECT_NEAR(number(f1["per_class"]["c"]), 0.0, kTolerance);
  EXPECT_NEAR(number(f1["macro"]), 1.0 / 3.0, kTolerance);

  // Specificity: a TN = 7-3-3+2 = 3, FP 1 -> 3/4; b likewise 3/4;
  // c TN = 7-1-0+0 = 6, FP 0 -> 1; d TN = 7-0-1+0 = 6, FP 1 -> 6/7.
  auto specificity = evaluate("specificity", c, data);
  EXPECT_NEAR(number(specificity["per_class"]["c"]), 1.0, kTolerance);
  EXPECT_NEAR(number(specificity["per_class"]["d"]), 6.0 / 7.0, kTolerance);
  EXPECT_NEAR(number(specificity["macro"]), (0.75 + 0.75 + 1.0 + 6.0 / 7.0) / 4.0, kTolerance);

  EXPECT_NEAR(number(evaluate("balanced_accuracy", c, data)["value"]), 4.0 / 9.0, kTolerance);
  EXPECT_NEAR(number(evaluate("accuracy", c, data)["value"]), 4.0 / 7.0, kTolerance);
}

TEST_F(metrics, ClassNeitherPresentNorPredictedIsLeftOutOfPrecision) {
  //             predicted x  y  z
  //   true x              2  1  0
  //   true y              0  1  0
  //   true z              0  0  0
  // Precision x 2/2, y 1/2, z undefined and, having no samples either, null:
  // macro = (1 + 0.5) / 2 = 0.75. F1 for z is 0/0 as well.
  auto data = from_matrix({{2, 1, 0}, {0, 1, 0}, {0, 0, 0}});
  auto c = context({"x", "y", "z"});
  auto precision = evaluate("precision", c, data);
  EXPECT_TRUE(precision["per_class"]["z"].is_null());
  EXPECT_EQ(precision["undefined"], nlohmann::json::array({"z"}));
  EXPECT_NEAR(number(precision["macro"]), 0.75, kTolerance);
  auto f1 = evaluate("f1", c, data);
  EXPECT_TRUE(f1["per_class"]["z"].is_null());
  EXPECT_EQ(f1["undefined"], nlohmann::json::array({"z"}));
  // x: 4/(4+0+1) = 0.8; y: 2/(2+1+0) = 2/3.
  EXPECT_NEAR(number(f1["macro"]), (0.8 + 2.0 / 3.0) / 2.0, kTolerance);
}

// --- binary ------------------------------------------------------------------
//
//                   predicted no  tumor
//   true no                     5  1
//   true tumor                  2  4      N = 12, correct 9
// For tumor: TP 4, FP 1, FN 2, TN 5. For no: TP 5, FP 2, FN 1, TN 4.
const std::vector<std::vector<int>> kBinary = {{5, 1}, {2, 4}};
const std::vector<std::string> kBinaryNames = {"no", "tumor"};

TEST_F(metrics, BinaryFigureIsThePositiveClass) {
  auto data = from_matrix(kBinary);
  auto positive = context(kBinaryNames, 1);

  auto precision = evaluate("precision", positive, data);
  EXPECT_EQ(precision["positive_class"], "tumor");
  EXPECT_EQ(precision["average"], "binary");
  EXPECT_NEAR(number(precision["binary"]), 0.8, kTolerance);  // 4 / 5
  EXPECT_NEAR(number(precision["value"]), 0.8, kTolerance);
  EXPECT_NEAR(number(precision["macro"]), (0.8 + 5.0 / 7.0) / 2.0, kTolerance);

  EXPECT_NEAR(number(evaluate("sensitivity", positive, data)["value"]), 4.0 / 6.0, kTolerance);
  EXPECT_NEAR(number(evaluate("specificity", positive, data)["value"]), 5.0 / 6.0, kTolerance);
  EXPECT_NEAR(number(evaluate("f1", positive, data)["value"]), 8.0 / 11.0, kTolerance);
  // (sensitivity + specificity) / 2 = (4/6 + 5/6) / 2 = 0.75.
  auto balanced = evaluate("balanced_accuracy", positive, data);
  EXPECT_NEAR(number(balanced["value"]), 0.75, kTolerance);
  EXPECT_NEAR(number(balanced["binary"]), 0.75, kTolerance);
  auto accuracy = evaluate("accuracy", positive, data);
  EXPECT_NEAR(number(accuracy["value"]), 0.75, kTolerance);  // 9 / 12
  EXPECT_NEAR(number(accuracy["binary"]), 0.75, kTolerance);

  // The other class as positive: precision of "no" = 5 / 7.
  EXPECT_NEAR(number(evaluate("precision", context(kBinaryNames, 0), data)["value"]),
              5.0 / 7.0, kTolerance);
  // No positive class: the headline is the macro average and no binary figure.
  auto macro = evaluate("precision", context(kBinaryNames), data);
  EXPECT_FALSE(macro.contains("binary"));
  EXPECT_NEAR(number(macro["value"]), (0.8 + 5.0 / 7.0) / 2.0, kTolerance);
}

TEST_F(metrics, WorstClassRecallNamesTheClass) {
  // Recall g 3/4, m 2/4, p 2/2: the worst is m at 0.5 (balanced 0.75).
  auto worst = evaluate("worst_class_recall", context(kThreeNames), from_matrix(kThree));
  EXPECT_NEAR(number(worst["value"]), 0.5, kTolerance);
  EXPECT_EQ(worst["class"], "m");
  EXPECT_EQ(worst["average"], "worst");
  EXPECT_NEAR(number(worst["per_class"]["p"]), 1.0, kTolerance);

  // Two classes, recall 1 and 1/2: balanced 0.75, worst 0.5 for "tumor"
  // whichever class is positive.
  auto two = from_matrix({{4, 0}, {2, 2}});
  EXPECT_NEAR(number(evaluate("balanced_accuracy", context(kBinaryNames), two)["value"]), 0.75, kTolerance);
  for (int positive : {-1, 0, 1}) {
    auto binary = evaluate("worst_class_recall", context(kBinaryNames, positive), two);
    EXPECT_NEAR(number(binary["value"]), 0.5, kTolerance) << positive;
    EXPECT_EQ(binary["class"], "tumor") << positive;
  }

  // A class absent from the labels (d) is left out; the never-predicted c
  // (recall 0) is the worst.
  auto gaps = evaluate("worst_class_recall", context(kGapNames), from_matrix(kGaps));
  EXPECT_NEAR(number(gaps["value"]), 0.0, kTolerance);
  EXPECT_EQ(gaps["class"], "c");
  EXPECT_EQ(gaps["undefined"], nlohmann::json::array({"d"}));

  // On a tie the lower class index is named; with no labels there is none.
  auto tie = evaluate("worst_class_recall", context({"x", "y", "z"}), from_matrix({{1, 1, 0}, {0, 2, 0}, {0, 1, 1}}));
  EXPECT_NEAR(number(tie["value"]), 0.5, kTolerance);
  EXPECT_EQ(tie["class"], "x");
  EXPECT_TRUE(evaluate("worst_class_recall", context({"x", "y"}), Data{})["class"].is_null());
}

// --- single class, zero samples, unlabelled rows ----------------------------

TEST_F(metrics, SingleClassContext) {
  Data data;
  data.classes = 1;
  for (int i = 0; i < 3; ++i) data.add({1.0f}, 0);
  auto c = context({"only"});
  // Every sample is the one class and predicted as it: accuracy, precision,
  // recall and F1 are 1; specificity has no negatives and ROC AUC neither.
  for (const char* name : {"accuracy", "precision", "sensitivity", "f1", "balanced_accuracy",
                           "confusion_matrix"}) {
    EXPECT_NEAR(number(evaluate(name, c, data)["value"]), 1.0, kTolerance) << name;
  }
  auto specificity = evaluate("specificity", c, data);
  EXPECT_TRUE(specificity["value"].is_null());
  EXPECT_EQ(specificity["undefined"], nlohmann::json::array({"only"}));
  auto auc = evaluate("roc_auc", c, data);
  EXPECT_TRUE(auc["value"].is_null());
  EXPECT_TRUE(auc["curves"]["only"].is_null());
  // Confidence 1 and always right: perfectly calibrated.
  EXPECT_NEAR(number(evaluate("calibration", c, data)["value"]), 0.0, kTolerance);
}

TEST_F(metrics, OnlyOneClassPresentInTwoClassData) {
  // Labels all "tumor", predicted tumor 3 times and no once.
  auto data = from_matrix({{0, 0}, {1, 3}});
  auto c = context(kBinaryNames, 1);
  EXPECT_NEAR(number(evaluate("sensitivity", c, data)["value"]), 0.75, kTolerance);
  // Specificity of tumor: TN + FP = 0 -> undefined, the headline is null.
  auto specificity = evaluate("specificity", c, data);
  EXPECT_TRUE(specificity["value"].is_null());
  EXPECT_TRUE(specificity["binary"].is_null());
  // No negatives for tumor, no positives for no: no AUC at all.
  auto auc = evaluate("roc_auc", c, data);
  EXPECT_TRUE(auc["value"].is_null());
  EXPECT_EQ(auc["undefined"], nlohmann::json::array({"no", "tumor"}));
}

TEST_F(metrics, ZeroSamplesGiveNullValuesAndNoCrash) {
  Data empty;
  Data unlabelled;
  unlabelled.add({0.2f, 0.8f}, -1);
  unlabelled.add({0.6f, 0.4f}, -1);
  for (const auto& name : kAllMetrics) {
    for (const Data* data : {&empty, &unlabelled}) {
      auto result = evaluate(name, context(kBinaryNames, 1, 50), *data);
      EXPECT_TRUE(result["value"].is_null()) << name << " " << result.dump();
      EXPECT_EQ(result["count"], 0) << name;
      EXPECT_TRUE(result["ci95"].is_null()) << name;
      // NaN would be written as null and so not survive the round trip
      // (NaN != NaN); a NaN-free result does.
      EXPECT_EQ(nlohmann::json::parse(result.dump()), result) << name;
    }
  }
}

TEST_F(metrics, UnlabelledRowsAreIgnored) {
  auto data = from_matrix(kThree);
  Data mixed = data;
  mixed.add({0.1f, 0.1f, 0.8f}, -1);
  mixed.add({0.8f, 0.1f, 0.1f}, -5);
  for (const auto& name : kAllMetrics) {
    EXPECT_EQ(evaluate(name, context(kThreeNames), data),
              evaluate(name, context(kThreeNames), mixed))
        << name;
  }
}

TEST_F(metrics, BadInputIsReported) {
  auto metric = make("f1");
  Data data;
  data.add({0.5f, 0.5f}, 0);
  EXPECT_THROW(metric->update(data.probabilities.data(), data.labels.data(), 1), cerebra::Error);
  metric->reset(context(kBinaryNames));
  std::vector<std::int64_t> out_of_range{2};
  EXPECT_THROW(metric->update(data.probabilities.data(), out_of_range.data(), 1),
               cerebra::Error);
  std::vector<float> nan_row{std::nanf(""), 0.5f};
  EXPECT_THROW(metric->update(nan_row.data(), data.labels.data(), 1), cerebra::Error);
  EXPECT_THROW(metric->reset(context({})), cerebra::Error);
  EXPECT_THROW(metric->reset(context(kBinaryNames, 2)), cerebra::Error);
}

TEST_F(metrics, ArgmaxTiesGoToTheLowerClass) {
  Data data;
  data.classes = 2;
  data.add({0.5f, 0.5f}, 0);  // predicted 0: right
  data.add({0.5f, 0.5f}, 1);  // predicted 0: wrong
  auto cm = evaluate("confusion_matrix", context(kBinaryNames), data);
  EXPECT_EQ(cm["matrix"], nlohmann::json::parse("[[1,0],[1,0]]"));
}

// --- accumulation -------------------------------------------------------------

TEST_F(metrics, BatchByBatchEqualsOneUpdate) {
  auto data = random_data(4, 503, 3);
  auto c = context({"glioma", "meningioma", "none", "pituitary"}, -1, 100, 5);
  for (const auto& name : kAllMetrics) {
    auto whole = evaluate(name, c, data);
    auto batched = make(name);
    batched->reset(c);
    const std::size_t batch = 37;
    for (std::size_t start = 0; start < data.size(); start += batch) {
      const std::size_t n = std::min(batch, data.size() - start);
      batched->update(data.probabilities.data() + start * 4, data.labels.data() + start, n);
    }
    EXPECT_EQ(whole, batched->compute()) << name;
    // reset() starts over.
    batched->reset(c);
    batched->update(data.probabilities.data(), data.labels.data(), 1);
    EXPECT_EQ(batched->compute()["count"], 1) << name;
  }
}

// --- ROC AUC ---------------------------------------------------------------------

TEST_F(metrics, RocAucBinaryHandExample) {
  // Labels 0 0 1 1, tumor scores 0.1 0.4 0.35 0.8. Positive-negative pairs:
  // (0.35, 0.1) win, (0.35, 0.4) loss, (0.8, 0.1) win, (0.8, 0.4) win: 3/4.
  Data data;
  data.add({0.9f, 0.1f}, 0);
  data.add({0.6f, 0.4f}, 0);
  data.add({0.65f, 0.35f}, 1);
  data.add({0.2f, 0.8f}, 1);
  auto auc = evaluate("roc_auc", context(kBinaryNames, 1), data);
  EXPECT_NEAR(number(auc["value"]), 0.75, kTolerance);
  EXPECT_NEAR(number(auc["binary"]), 0.75, kTolerance);
  // For "no" the scores are 1 - those, so the same pairs: also 3/4.
  EXPECT_NEAR(number(auc["per_class"]["no"]), 0.75, kTolerance);
  // Lowering the threshold through 0.8 (pos), 0.4 (neg), 0.35 (pos), 0.1 (neg).
  auto curve = auc["curves"]["tumor"];
  EXPECT_EQ(curve, nlohmann::json::parse("[[0,0],[0,0.5],[0.5,0.5],[0.5,1],[1,1]]"));
}

TEST_F(metrics, RocAucCountsTiesAsHalf) {
  Data data;
  data.add({0.5f, 0.5f}, 0);
  data.add({0.5f, 0.5f}, 1);
  EXPECT_NEAR(number(evaluate("roc_auc", context(kBinaryNames, 1), data)["value"]), 0.5,
              kTolerance);
}

TEST_F(metrics, RocAucOneVsRestHandExample) {
  // Scores (a, b, c, d) and labels; d never occurs in the labels.
  //   s1 a: 0.6 0.3 0.1 0
  //   s2 b: 0.2 0.5 0.3 0
  //   s3 c: 0.3 0.4 0.3 0
  //   s4 a: 0.3 0.2 0.5 0
  // a: positives {0.6, 0.3}, negatives {0.2, 0.3}: W W W tie -> 3.5/4 = 0.875
  // b: positive {0.5}, negatives {0.3, 0.4, 0.2}: W W W -> 1
  // c: positive {0.3}, negatives {0.1, 0.3, 0.5}: W tie L -> 1.5/3 = 0.5
  // d: no positives -> undefined, left out.
  // macro = (0.875 + 1 + 0.5) / 3; weighted by positives 2, 1, 1 = 3.25 / 4.
  Data data;
  data.add({0.6f, 0.3f, 0.1f, 0.0f}, 0);
  data.add({0.2f, 0.5f, 0.3f, 0.0f}, 1);
  data.add({0.3f, 0.4f, 0.3f, 0.0f}, 2);
  data.add({0.3f, 0.2f, 0.5f, 0.0f}, 0);
  auto auc = evaluate("roc_auc", context({"a", "b", "c", "d"}), data);
  EXPECT_NEAR(number(auc["per_class"]["a"]), 0.875, kTolerance);
  EXPECT_NEAR(number(auc["per_class"]["b"]), 1.0, kTolerance);
  EXPECT_NEAR(number(auc["per_class"]["c"]), 0.5, kTolerance);
  EXPECT_TRUE(auc["per_class"]["d"].is_null());
  EXPECT_EQ(auc["undefined"], nlohmann::json::array({"d"}));
  EXPECT_NEAR(number(auc["macro"]), 2.375 / 3.0, kTolerance);
  EXPECT_NEAR(number(auc["weighted"]), 3.25 / 4.0, kTolerance);
  EXPECT_NEAR(number(auc["value"]), 2.375 / 3.0, kTolerance);
  // Every defined curve runs from (0, 0) to (1, 1).
  for (const char* name : {"a", "b", "c"}) {
    const auto& curve = auc["curves"][name];
    EXPECT_EQ(curve.front(), nlohmann::json::parse("[0,0]")) << name;
    EXPECT_EQ(curve.back(), nlohmann::json::parse("[1,1]")) << name;
  }
}

// --- calibration --------------------------------------------------------------

// Top-label confidence and correctness (5 bins of width 0.2):
//   [0.9, 0.1]   a  conf 0.9   right   bin 4
//   [0.9, 0.1]   b  conf 0.9   wrong   bin 4
//   [0.3, 0.7]   b  conf 0.7   right   bin 3
//   [0.35, 0.65] b  conf 0.65  right   bin 3
//   [0.45, 0.55] a  conf 0.55  wrong   bin 2
// bin 4: n 2, accuracy 0.5, confidence 0.9   -> 2/5 * 0.4   = 0.16
// bin 3: n 2, accuracy 1,   confidence 0.675 -> 2/5 * 0.325 = 0.13
// bin 2: n 1, accuracy 0,   confidence 0.55  -> 1/5 * 0.55  = 0.11
// ECE = 0.40
Data calibration_data() {
  Data data;
  data.classes = 2;
  data.add({0.9f, 0.1f}, 0);
  data.add({0.9f, 0.1f}, 1);
  data.add({0.3f, 0.7f}, 1);
  data.add({0.35f, 0.65f}, 1);
  data.add({0.45f, 0.55f}, 0);
  return data;
}

TEST_F(metrics, CalibrationHandExample) {
  cerebra::Parameters five;
  five.set("bins", std::int64_t{5});
  auto result = evaluate("calibration", context({"a", "b"}, 1), calibration_data(), five);
  EXPECT_NEAR(number(result["ece"]), 0.40, kTolerance);
  EXPECT_NEAR(number(result["value"]), 0.40, kTolerance);
  ASSERT_EQ(result["bins"].size(), 5u);
  const auto& top = result["bins"][4];
  EXPECT_EQ(top["count"], 2);
  EXPECT_NEAR(number(top["accuracy"]), 0.5, kTolerance);
  EXPECT_NEAR(number(top["confidence"]), 0.9, kTolerance);
  EXPECT_NEAR(number(result["bins"][3]["confidence"]), 0.675, kTolerance);
  EXPECT_NEAR(number(result["bins"][4]["lower"]), 0.8, kTolerance);
  EXPECT_EQ(result["bins"][0]["count"], 0);
  EXPECT_TRUE(result["bins"][0]["accuracy"].is_null());
  // Class-wise for b bins p_b = 0.1 0.1 0.7 0.65 0.55 against y == b = 0 1 1 1 0:
  // bin 0: n 2, freq 0.5, conf 0.1 -> 0.16; bin 3: freq 1, conf 0.675 -> 0.13;
  // bin 2: freq 0, conf 0.55 -> 0.11. Total 0.40, and the same for a (p_a = 1 - p_b).
  EXPECT_NEAR(number(result["per_class"]["b"]), 0.40, kTolerance);
  EXPECT_NEAR(number(result["per_class"]["a"]), 0.40, kTolerance);
  EXPECT_NEAR(number(result["binary"]), 0.40, kTolerance);

  // One bin: |overall accuracy - mean confidence| = |3/5 - 3.7/5| = 0.14.
  cerebra::Parameters one;
  one.set("bins", std::int64_t{1});
  EXPECT_NEAR(number(evaluate("calibration", context({"a", "b"}), calibration_data(), one)["ece"]),
              0.14, kTolerance);
}

TEST_F(metrics, CalibrationBinsParameterIsChecked) {
  cerebra::Parameters zero;
  zero.set("bins", std::int64_t{0});
  EXPECT_THROW(make("calibration", zero), cerebra::Error);
  // The default (15 bins) gives 15 reliability bins.
  auto result = evaluate("calibration", context({"a", "b"}), calibration_data());
  EXPECT_EQ(result["bins"].size(), 15u);
}

// --- bootstrap ------------------------------------------------------------------

TEST_F(metrics, BootstrapIsDeterministicAndBracketsTheEstimate) {
  auto data = random_data(4, 400, 9);
  const std::vector<std::string> names{"glioma", "meningioma", "none", "pituitary"};
  for (const auto& name : kAllMetrics) {
    auto first = evaluate(name, context(names, -1, 300, 11), data);
    auto second = evaluate(name, context(names, -1, 300, 11), data);
    auto other_seed = evaluate(name, context(names, -1, 300, 12), data);
    ASSERT_TRUE(first["ci95"].is_array()) << name << " " << first.dump();
    EXPECT_EQ(first["ci95"], second["ci95"]) << name;
    EXPECT_NE(first["ci95"], other_seed["ci95"]) << name;
    const double low = number(first["ci95"][0]), high = number(first["ci95"][1]);
    const double value = number(first["value"]);
    EXPECT_LT(low, high) << name;
    EXPECT_LE(low, value) << name;
    EXPECT_GE(high, value) << name;
    // Without a bootstrap there is no interval.
    EXPECT_FALSE(evaluate(name, context(names), data).contains("ci95")) << name;
  }
}

TEST_F(metrics, BootstrapWidthMatchesTheBinomialStandardError) {
  // Resampling the confusion-matrix cells must behave like resampling the
  // samples: for accuracy p over N samples the 95% interval is about
  // 2 * 1.96 * sqrt(p (1 - p) / N) wide.
  auto data = random_data(3, 600, 21);
  auto result = evaluate("accuracy", context({"a", "b", "c"}, -1, 2000, 3), data);
  const double p = number(result["value"]);
  const double expected = 2 * 1.96 * std::sqrt(p * (1 - p) / 600.0);
  const double width = number(result["ci95"][1]) - number(result["ci95"][0]);
  EXPECT_NEAR(width, expected, 0.15 * expected) << result.dump();
}

TEST_F(metrics, RocAucBootstrapWidthMatchesHanleyMcNeil) {
  // Resampling the score histograms must behave like resampling the samples.
  // Hanley & McNeil (1982): SE^2 = (A(1-A) + (P-1)(Q1-A^2) + (N-1)(Q2-A^2)) / (P N)
  // with Q1 = A / (2 - A), Q2 = 2A^2 / (1 + A); the 95% interval is about
  // 2 * 1.96 * SE wide.
  auto data = random_data(2, 800, 17);
  auto result = evaluate("roc_auc", context({"a", "b"}, 1, 2000, 5), data);
  const double a = number(result["value"]);
  const double p = number(result["support"]["b"]), n = number(result["support"]["a"]);
  const double q1 = a / (2 - a), q2 = 2 * a * a / (1 + a);
  const double se = std::sqrt((a * (1 - a) + (p - 1) * (q1 - a * a) + (n - 1) * (q2 - a * a)) /
                              (p * n));
  const double width = number(result["ci95"][1]) - number(result["ci95"][0]);
  EXPECT_NEAR(width, 2 * 1.96 * se, 0.2 * 2 * 1.96 * se) << result["ci95"].dump() << " se " << se;
}

TEST_F(metrics, PerClassIntervalsWhenBootstrapping) {
  auto data = from_matrix(kThree);
  auto result = evaluate("sensitivity", context(kThreeNames, -1, 200), data);
  for (const auto& name : kThreeNames) {
    ASSERT_TRUE(result["per_class_ci95"][name].is_array()) << name;
    EXPECT_LE(number(result["per_class_ci95"][name][0]),
              number(result["per_class"][name]) + kTolerance);
  }
}

}  // namespace
