// Metrics that are functions of the confusion matrix alone: accuracy,
// precision, sensitivity, specificity, f1, balanced_accuracy, worst_class_recall,
// confusion_matrix.
//
// Memory: only the k x k counts are kept, whatever the dataset size.
//
// Bootstrap: resampling the N labelled samples with replacement gives each
// (true, predicted) cell a count; those counts are jointly
// Multinomial(N, cell / N). Every metric here is a function of the cell counts
// only, so drawing the cell counts directly from that multinomial has exactly
// the same distribution as resampling the samples, at a cost of k^2 binomial
// draws per resample instead of N.
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cerebra/error.h"
#include "cerebra/registry.h"
#include "common.h"

namespace cerebra::metrics {
namespace {

class ConfusionMetric : public Metric {
 public:
  ConfusionMetric(std::string name, Average requested)
      : name_(std::move(name)), requested_(requested) {}

  void reset(const MetricContext& context) override {
    average_ = check_context(context, requested_, name_);
    context_ = context;
    counts_.reset(context.class_names.size());
    ready_ = true;
  }

  void update(const float* probabilities, const std::int64_t* labels,
              std::size_t count) override {
    if (!ready_) throw Error("metric '" + name_ + "': update() called before reset()");
    const std::size_t k = counts_.classes;
    for (std::size_t i = 0; i < count; ++i) {
      if (labels[i] < 0) continue;  // unlabelled
      const float* row = probabilities + i * k;
      check_row(row, k, labels[i], name_);
      ++counts_.cells[static_cast<std::size_t>(labels[i]) * k + argmax(row, k)];
    }
  }

  nlohmann::json compute() const override {
    if (!ready_) throw Error("metric '" + name_ + "': compute() called before reset()");
    const std::size_t k = counts_.classes;
    Summary summary = summarize(counts_);
    nlohmann::json out;
    out["metric"] = name_;
    out["value"] = to_json(summary.headline);
    out["average"] = headline_name();
    out["count"] = counts_.total();
    nlohmann::json per_class = nlohmann::json::object();
    nlohmann::json support = nlohmann::json::object();
    nlohmann::json undefined = nlohmann::json::array();
    for (std::size_t c = 0; c < k; ++c) {
      const std::string& name = context_.class_names[c];
      per_class[name] = to_json(summary.per_class[c].value);
      support[name] = counts_.support(c);
      if (summary.per_class[c].undefined) undefined.push_back(name);
    }
    out["per_class"] = per_class;
    out["support"] = support;
    out["macro"] = to_json(summary.averages.macro);
    out["weighted"] = to_json(summary.averages.weighted);
    if (binary_applies(context_)) {
      out["binary"] = to_json(summary.binary);
      out["positive_class"] = context_.class_names[static_cast<std::size_t>(context_.positive_class)];
    }
    out["undefined"] = undefined;
    if (context_.bootstrap > 0) {
      // Figures per resample: the headline first, then one per class.
      auto samples = bootstrap([this, k](const ConfusionCounts& m) {
        Summary s = summarize(m);
        std::vector<Figure> figures{s.headline};
        for (std::size_t c = 0; c < k; ++c) figures.push_back(s.per_class[c].value);
        return figures;
      });
      out["ci95"] = to_json(samples.empty() ? std::nullopt : percentile_interval(samples[0]));
      nlohmann::json per_class_ci = nlohmann::json::object();
      for (std::size_t c = 0; c < k; ++c) {
        per_class_ci[context_.class_names[c]] =
            to_json(samples.empty() ? std::nullopt : percentile_interval(samples[c + 1]));
      }
      out["per_class_ci95"] = per_class_ci;
      out["bootstrap"] = {{"resamples", context_.bootstrap}, {"seed", context_.bootstrap_seed}};
    }
    return out;
  }

 protected:
  struct Summary {
    std::vector<ClassFigure> per_class;
    Averages averages;
    Figure binary;
    Figure headline;
  };

  virtual ClassFigure figure(const ConfusionCounts& m, std::size_t c) const = 0;

  // The binary figure is the positive class's own figure, except where the
  // metric is not per class (accuracy) -- see the overrides.
  virtual Figure binary_figure(const Summary& s, const ConfusionCounts&) const {
    return s.per_class[static_cast<std::size_t>(context_.positive_class)].value;
  }
  virtual Figure headline(const Summary& s, const ConfusionCounts&) const {
    switch (average_) {
      case Average::Binary: return s.binary;
      case Average::Weighted: return s.averages.weighted;
      default: return s.averages.macro;
    }
  }
  virtual std::string headline_name() const { return to_string(average_); }

  Summary summarize(const ConfusionCounts& m) const {
    Summary s;
    std::vector<std::int64_t> support(m.classes);
    for (std::size_t c = 0; c < m.classes; ++c) {
      s.per_class.push_back(figure(m, c));
      support[c] = m.support(c);
    }
    s.averages = average(s.per_class, support);
    if (binary_applies(context_)) s.binary = binary_figure(s, m);
    s.headline = headline(s, m);
    return s;
  }

  // Returns, for each figure `evaluate` yields, its values over the
  // resamples; empty when there is nothing to resample.
  std::vector<std::vector<Figure>> bootstrap(
      const std::function<std::vector<Figure>(const ConfusionCounts&)>& evaluate) const {
    const std::int64_t total = counts_.total();
    std::vector<std::vector<Figure>> samples;
    if (total == 0) return samples;
    std::mt19937_64 rng(context_.bootstrap_seed);
    ConfusionCounts resampled;
    resampled.classes = counts_.classes;
    for (std::int64_t b = 0; b < context_.bootstrap; ++b) {
      resample(counts_.cells, total, total, rng, resampled.cells);
      auto figures = evaluate(resampled);
      if (samples.empty()) samples.resize(figures.size());
      for (std::size_t i = 0; i < figures.size(); ++i) samples[i].push_back(figures[i]);
    }
    return samples;
  }

  static Figure ratio(std::int64_t numerator, std::int64_t denominator) {
    if (denominator == 0) return std::nullopt;
    return static_cast<double>(numerator) / static_cast<double>(denominator);
  }

  std::string name_;
  Average requested_;
  Average average_ = Average::Macro;
  MetricContext context_;
  ConfusionCounts counts_;
  bool ready_ = false;
};

// Recall: TP / (TP + FN). Undefined when the class is absent from the labels;
// such a class is left out of the averages.
ClassFigure recall_of(const ConfusionCounts& m, std::size_t c) {
  ClassFigure f;
  if (m.support(c) == 0) {
    f.undefined = true;
  } else {
    f.value = static_cast<double>(m.tp(c)) / static_cast<double>(m.support(c));
  }
  return f;
}

// Overall accuracy is the headline whatever the class count: per class it is
// the fraction of that class's samples classified correctly (its recall), so
// the support-weighted average equals the overall accuracy and the macro
// average equals the balanced accuracy.
class Accuracy : public ConfusionMetric {
 public:
  explicit Accuracy(const Parameters&) : ConfusionMetric("accuracy", Average::Auto) {}

 protected:
  ClassFigure figure(const ConfusionCounts& m, std::size_t c) const override {
    return recall_of(m, c);
  }
  Figure binary_figure(const Summary&, const ConfusionCounts& m) const override {
    return ratio(m.correct(), m.total());
  }
  Figure headline(const Summary&, const ConfusionCounts& m) const override {
    return ratio(m.correct(), m.total());
  }
  std::string headline_name() const override { return "overall"; }
};

// TP / (TP + FP). A class never predicted has an undefined precision, reported
// as 0 and listed in "undefined" -- it still counts (as 0) in the averages when
// the class has samples, since never finding a present class is a failure. A
// class with neither samples nor predictions says nothing about the model and
// is left out.
class Precision : public ConfusionMetric {
 public:
  explicit Precision(const Parameters& p) : ConfusionMetric("precision", average_from(p)) {}

 protected:
  ClassFigure figure(const ConfusionCounts& m, std::size_t c) const override {
    ClassFigure f;
    if (m.predicted(c) == 0) {
      f.undefined = true;
      if (m.support(c) > 0) f.value = 0.0;
    } else {
      f.value = static_cast<double>(m.tp(c)) / static_cast<double>(m.predicted(c));
    }
    return f;
  }
};

class Sensitivity : public ConfusionMetric {
 public:
  explicit Sensitivity(const Parameters& p) : ConfusionMetric("sensitivity", average_from(p)) {}

 protected:
  ClassFigure figure(const ConfusionCounts& m, std::size_t c) const override {
    return recall_of(m, c);
  }
};

// TN / (TN + FP). Undefined (left out of the averages) when every sample
// belongs to the class, as with single-class data.
class Specificity : public ConfusionMetric {
 public:
  explicit Specificity(const Parameters& p) : ConfusionMetric("specificity", average_from(p)) {}

 protected:
  ClassFigure figure(const ConfusionCounts& m, std::size_t c) const override {
    ClassFigure f;
    const std::int64_t negatives = m.tn(c) + m.fp(c);
    if (negatives == 0) {
      f.undefined = true;
    } else {
      f.value = static_cast<double>(m.tn(c)) / static_cast<double>(negatives);
    }
    return f;
  }
};

// 2TP / (2TP + FP + FN), the harmonic mean of precision and recall written so
// that it stays defined (as 0) when only one of them is: a present class never
// predicted, or an absent class that is predicted. Undefined only for a class
// with neither samples nor predictions, which is left out of the averages.
class F1 : public ConfusionMetric {
 public:
  explicit F1(const Parameters& p) : ConfusionMetric("f1", average_from(p)) {}

 protected:
  ClassFigure figure(const ConfusionCounts& m, std::size_t c) const override {
    ClassFigure f;
    const std::int64_t denominator = 2 * m.tp(c) + m.fp(c) + m.fn(c);
    if (denominator == 0) {
      f.undefined = true;
    } else {
      f.value = 2.0 * static_cast<double>(m.tp(c)) / static_cast<double>(denominator);
    }
    return f;
  }
};

// Mean recall over the classes present in the labels. For two classes it is
// (sensitivity + specificity) / 2 whichever class is positive, so the binary
// figure equals the macro one.
class BalancedAccuracy : public ConfusionMetric {
 public:
  explicit BalancedAccuracy(const Parameters&)
      : ConfusionMetric("balanced_accuracy", Average::Auto) {}

 protected:
  ClassFigure figure(const ConfusionCounts& m, std::size_t c) const override {
    return recall_of(m, c);
  }
  Figure binary_figure(const Summary& s, const ConfusionCounts&) const override {
    return s.averages.macro;
  }
  Figure headline(const Summary& s, const ConfusionCounts&) const override {
    return s.averages.macro;
  }
  std::string headline_name() const override { return "macro"; }
};

// The lowest recall over the classes present in the labels: the class the
// model serves worst, which a good balanced accuracy can hide. "class" names
// it (on a tie, the lower class index); like the per-class figures, it is
// null when no class is present.
class WorstClassRecall : public ConfusionMetric {
 public:
  explicit WorstClassRecall(const Parameters&) : ConfusionMetric("worst_class_recall", Average::Auto) {}

  nlohmann::json compute() const override {
    nlohmann::json out = ConfusionMetric::compute();
    const auto worst = worst_class(summarize(counts_).per_class);
    out["class"] = worst ? nlohmann::json(context_.class_names[*worst]) : nlohmann::json(nullptr);
    return out;
  }

 protected:
  ClassFigure figure(const ConfusionCounts& m, std::size_t c) const override {
    return recall_of(m, c);
  }
  Figure binary_figure(const Summary& s, const ConfusionCounts& m) const override {
    return headline(s, m);
  }
  Figure headline(const Summary& s, const ConfusionCounts&) const override {
    const auto worst = worst_class(s.per_class);
    return worst ? s.per_class[*worst].value : std::nullopt;
  }
  std::string headline_name() const override { return "worst"; }

 private:
  static std::optional<std::size_t> worst_class(const std::vector<ClassFigure>& per_class) {
    std::optional<std::size_t> worst;
    for (std::size_t c = 0; c < per_class.size(); ++c) {
      if (per_class[c].value && (!worst || *per_class[c].value < *per_class[*worst].value)) worst = c;
    }
    return worst;
  }
};

class ConfusionMatrix : public ConfusionMetric {
 public:
  explicit ConfusionMatrix(const Parameters&) : ConfusionMetric("confusion_matrix", Average::Auto) {}

  nlohmann::json compute() const override {
    if (!ready_) throw Error("metric '" + name_ + "': compute() called before reset()");
    const std::size_t k = counts_.classes;
    nlohmann::json matrix = nlohmann::json::array();
    // Row-normalised: each row is the distribution of predictions for that
    // true class; null for a class absent from the labels.
    nlohmann::json normalized = nlohmann::json::array();
    for (std::size_t t = 0; t < k; ++t) {
      nlohmann::json row = nlohmann::json::array();
      nlohmann::json row_normalized = nlohmann::json::array();
      const std::int64_t support = counts_.support(t);
      for (std::size_t p = 0; p < k; ++p) {
        row.push_back(counts_.at(t, p));
        row_normalized.push_back(to_json(ratio(counts_.at(t, p), support)));
      }
      matrix.push_back(row);
      normalized.push_back(support == 0 ? nlohmann::json(nullptr) : row_normalized);
    }
    nlohmann::json out;
    out["metric"] = name_;
    out["value"] = to_json(ratio(counts_.correct(), counts_.total()));
    out["count"] = counts_.total();
    out["classes"] = context_.class_names;
    out["matrix"] = matrix;
    out["normalized"] = normalized;
    if (context_.bootstrap > 0) {
      auto samples = bootstrap([](const ConfusionCounts& m) {
        return std::vector<Figure>{ratio(m.correct(), m.total())};
      });
      out["ci95"] = to_json(samples.empty() ? std::nullopt : percentile_interval(samples[0]));
      out["bootstrap"] = {{"resamples", context_.bootstrap}, {"seed", context_.bootstrap_seed}};
    }
    return out;
  }

 protected:
  ClassFigure figure(const ConfusionCounts& m, std::size_t c) const override {
    return recall_of(m, c);
  }
};

Schema with_average() {
  Schema schema;
  add_average_parameter(schema);
  return schema;
}

}  // namespace

void register_confusion_metrics(Registry& registry) {
  registry.add<Accuracy>(kinds::metric, "accuracy",
                         "Fraction of labelled samples whose argmax class is the true class",
                         Schema{});
  registry.add<Precision>(kinds::metric, "precision",
                          "TP / (TP + FP) per class, with macro, weighted and binary averages",
                          with_average());
  registry.add<Sensitivity>(kinds::metric, "sensitivity",
                            "Recall, TP / (TP + FN) per class, with macro, weighted and binary "
                            "averages",
                            with_average());
  registry.add<Specificity>(kinds::metric, "specificity",
                            "TN / (TN + FP) per class, with macro, weighted and binary averages",
                            with_average());
  registry.add<F1>(kinds::metric, "f1",
                   "2TP / (2TP + FP + FN) per class, with macro, weighted and binary averages",
                   with_average());
  registry.add<BalancedAccuracy>(kinds::metric, "balanced_accuracy",
                                 "Mean recall over the classes present in the labels", Schema{});
  registry.add<WorstClassRecall>(kinds::metric, "worst_class_recall",
                                 "Lowest recall over the classes present; \"class\" names that class", Schema{});
  registry.add<ConfusionMatrix>(kinds::metric, "confusion_matrix",
                                "Counts of (true class, predicted class); value is the accuracy",
                                Schema{});
}

}  // namespace cerebra::metrics
