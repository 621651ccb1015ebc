// Metrics that need the scores, not only the predicted class: roc_auc and
// calibration. Both keep fixed-size histograms over [0, 1] instead of the
// scores themselves, so memory does not grow with the dataset.
#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "cerebra/error.h"
#include "cerebra/registry.h"
#include "common.h"

namespace cerebra::metrics {
namespace {

// ---------------------------------------------------------------------------
// roc_auc
//
// For each class c, a histogram of the score p_c split by true label y:
// hist[(c * k + y) * kRocBins + bin]. One-vs-rest, class c's positives are the
// y == c rows and its negatives all the others. Scores in the same bin are
// treated as tied, so the AUC is the Mann-Whitney statistic with ties counted
// half at a resolution of 1 / kRocBins; scores further apart than one bin give
// the exact AUC. Memory is k * k * kRocBins counts (128 KiB for 4 classes).
//
// Bootstrap: resampling the N samples draws the (y, bin of p_c) cells from a
// multinomial, which factors into the class counts n*_y ~ Multinomial(N, n_y /
// N) followed by, within each y, the bins ~ Multinomial(n*_y, hist / n_y). We
// draw exactly that, so each class's AUC is resampled exactly as the samples
// would resample it. The classes share n*_y, but the bins of different
// classes' scores are drawn independently given n*_y: the joint score vector
// of a sample is not kept (it would need unbounded memory), so the macro and
// weighted intervals ignore the correlation between classes' scores within a
// sample. The per-class intervals have no such approximation.
constexpr std::size_t kRocBins = 1000;

struct Roc {
  Figure auc;
  std::vector<std::pair<double, double>> curve;  // (fpr, tpr), from (0, 0) to (1, 1)
};

Roc roc_from(const std::vector<std::int64_t>& positives,
             const std::vector<std::int64_t>& negatives, bool with_curve) {
  Roc out;
  std::int64_t p_total = 0, n_total = 0;
  for (auto n : positives) p_total += n;
  for (auto n : negatives) n_total += n;
  if (p_total == 0 || n_total == 0) return out;
  const double p = static_cast<double>(p_total), n = static_cast<double>(n_total);
  // Lowering the threshold one bin at a time from the top; the trapezoid over
  // a bin with both positives and negatives is exactly the half credit the
  // Mann-Whitney statistic gives ties.
  double area = 0.0;
  std::int64_t tp = 0, fp = 0;
  if (with_curve) out.curve.emplace_back(0.0, 0.0);
  for (std::size_t b = positives.size(); b-- > 0;) {
    if (positives[b] == 0 && negatives[b] == 0) continue;
    const std::int64_t next_tp = tp + positives[b], next_fp = fp + negatives[b];
    area += static_cast<double>(negatives[b]) * static_cast<double>(tp + next_tp) / 2.0;
    tp = next_tp;
    fp = next_fp;
    if (with_curve) out.curve.emplace_back(static_cast<double>(fp) / n, static_cast<double>(tp) / p);
  }
  out.auc = area / (p * n);
  return out;
}

class RocAuc : public Metric {
 public:
  explicit RocAuc(const Parameters& p) : requested_(average_from(p)) {}

  void reset(const MetricContext& context) override {
    average_ = check_context(context, requested_, "roc_auc");
    context_ = context;
    k_ = context.class_names.size();
    hist_.assign(k_ * k_ * kRocBins, 0);
    class_counts_.assign(k_, 0);
    ready_ = true;
  }

  void update(const float* probabilities, const std::int64_t* labels,
              std::size_t count) override {
    if (!ready_) throw Error("metric 'roc_auc': update() called before reset()");
    for (std::size_t i = 0; i < count; ++i) {
      if (labels[i] < 0) continue;
      const float* row = probabilities + i * k_;
      check_row(row, k_, labels[i], "roc_auc");
      const auto y = static_cast<std::size_t>(labels[i]);
      ++class_counts_[y];
      for (std::size_t c = 0; c < k_; ++c) {
        ++hist_[(c * k_ + y) * kRocBins + bin_of(row[c], kRocBins)];
      }
    }
  }

  nlohmann::json compute() const override {
    if (!ready_) throw Error("metric 'roc_auc': compute() called before reset()");
    Summary s = summarize(hist_, class_counts_, true);
    nlohmann::json out;
    out["metric"] = "roc_auc";
    out["value"] = to_json(s.headline);
    out["average"] = to_string(average_);
    std::int64_t total = 0;
    for (auto n : class_counts_) total += n;
    out["count"] = total;
    nlohmann::json per_class = nlohmann::json::object(), support = nlohmann::json::object(),
                   curves = nlohmann::json::object(), undefined = nlohmann::json::array();
    for (std::size_t c = 0; c < k_; ++c) {
      const std::string& name = context_.class_names[c];
      per_class[name] = to_json(s.per_class[c].value);
      support[name] = class_counts_[c];
      if (s.per_class[c].undefined) {
        undefined.push_back(name);
        curves[name] = nullptr;
      } else {
        nlohmann::json points = nlohmann::json::array();
        for (const auto& [fpr, tpr] : s.curves[c]) points.push_back({fpr, tpr});
        curves[name] = points;
      }
    }
    out["per_class"] = per_class;
    out["support"] = support;
    out["macro"] = to_json(s.averages.macro);
    out["weighted"] = to_json(s.averages.weighted);
    if (binary_applies(context_)) {
      out["binary"] = to_json(s.binary);
      out["positive_class"] = context_.class_names[static_cast<std::size_t>(context_.positive_class)];
    }
    out["undefined"] = undefined;
    out["curves"] = curves;
    if (context_.bootstrap > 0) add_bootstrap(out, total);
    return out;
  }

 private:
  struct Summary {
    std::vector<ClassFigure> per_class;
    std::vector<std::vector<std::pair<double, double>>> curves;
    Averages averages;
    Figure binary, headline;
  };

  // Undefined (and left out of the averages) for a class with no positives or
  // no negatives: single-class data, or a class absent from the labels.
  Summary summarize(const std::vector<std::int64_t>& hist,
                    const std::vector<std::int64_t>& class_counts, bool with_curves) const {
    Summary s;
    std::vector<std::int64_t> positives(kRocBins), negatives(kRocBins);
    for (std::size_t c = 0; c < k_; ++c) {
      std::fill(positives.begin(), positives.end(), 0);
      std::fill(negatives.begin(), negatives.end(), 0);
      for (std::size_t y = 0; y < k_; ++y) {
        auto& target = y == c ? positives : negatives;
        const std::int64_t* row = hist.data() + (c * k_ + y) * kRocBins;
        for (std::size_t b = 0; b < kRocBins; ++b) target[b] += row[b];
      }
      Roc roc = roc_from(positives, negatives, with_curves);
      ClassFigure f;
      f.value = roc.auc;
      f.undefined = !roc.auc;
      s.per_class.push_back(f);
      s.curves.push_back(std::move(roc.curve));
    }
    s.averages = average(s.per_class, class_counts);
    if (binary_applies(context_)) {
      s.binary = s.per_class[static_cast<std::size_t>(context_.positive_class)].value;
    }
    switch (average_) {
      case Average::Binary: s.headline = s.binary; break;
      case Average::Weighted: s.headline = s.averages.weighted; break;
      default: s.headline = s.averages.macro; break;
    }
    return s;
  }

  void add_bootstrap(nlohmann::json& out, std::int64_t total) const {
    std::vector<Figure> headline;
    std::vector<std::vector<Figure>> per_class(k_);
    if (total > 0) {
      std::mt19937_64 rng(context_.bootstrap_seed);
      std::vector<std::int64_t> counts, hist(hist_.size()), cell(kRocBins), source(kRocBins);
      for (std::int64_t r = 0; r < context_.bootstrap; ++r) {
        resample(class_counts_, total, total, rng, counts);
        for (std::size_t c = 0; c < k_; ++c) {
          for (std::size_t y = 0; y < k_; ++y) {
            const std::size_t offset = (c * k_ + y) * kRocBins;
            source.assign(hist_.begin() + static_cast<std::ptrdiff_t>(offset),
                          hist_.begin() + static_cast<std::ptrdiff_t>(offset + kRocBins));
            resample(source, class_counts_[y], counts[y], rng, cell);
            std::copy(cell.begin(), cell.end(), hist.begin() + static_cast<std::ptrdiff_t>(offset));
          }
        }
        Summary s = summarize(hist, counts, false);
        headline.push_back(s.headline);
        for (std::size_t c = 0; c < k_; ++c) per_class[c].push_back(s.per_class[c].value);
      }
    }
    out["ci95"] = to_json(percentile_interval(headline));
    nlohmann::json per_class_ci = nlohmann::json::object();
    for (std::size_t c = 0; c < k_; ++c) {
      per_class_ci[context_.class_names[c]] = to_json(percentile_interval(per_class[c]));
    }
    out["per_class_ci95"] = per_class_ci;
    out["bootstrap"] = {{"resamples", context_.bootstrap}, {"seed", context_.bootstrap_seed}};
  }

  Average requested_;
  Average average_ = Average::Macro;
  MetricContext context_;
  std::size_t k_ = 0;
  std::vector<std::int64_t> hist_;
  std::vector<std::int64_t> class_counts_;
  bool ready_ = false;
};

// ---------------------------------------------------------------------------
// calibration
//
// Expected calibration error of the top label: samples are binned by their
// confidence (the largest probability) into `bins` equal bins on [0, 1]
// (1.0 in the last), and
//   ECE = sum over bins of (n_bin / N) * |accuracy_bin - mean confidence_bin|.
// Per class, the class-wise ECE bins p_c and compares it with the frequency
// of y == c; "per_class", "macro" and "weighted" report those. The headline
// is always the top-label ECE.
//
// Memory: each reliability histogram keeps, per fine bin, the counts of hits
// and misses and the sums of their confidences, so the point estimate uses the
// exact mean confidence. Fine bins number `bins` * ceil(1000 / bins), so each
// reported bin is a whole number of fine bins.
//
// Bootstrap (top-label ECE only): resampling the samples draws the (fine bin,
// hit or miss) cells from a multinomial, which is drawn directly; a resampled
// cell's confidence sum is its count times the cell's mean confidence, which
// ignores the spread of confidences within one fine bin (at most 1/1000).
struct Reliability {
  std::vector<std::int64_t> hits, misses;
  std::vector<double> hit_confidence, miss_confidence;

  void reset(std::size_t fine_bins) {
    hits.assign(fine_bins, 0);
    misses.assign(fine_bins, 0);
    hit_confidence.assign(fine_bins, 0.0);
    miss_confidence.assign(fine_bins, 0.0);
  }
  void add(double confidence, bool hit) {
    const std::size_t b = bin_of(confidence, hits.size());
    if (hit) {
      ++hits[b];
      hit_confidence[b] += confidence;
    } else {
      ++misses[b];
      miss_confidence[b] += confidence;
    }
  }
};

// Per reported bin: samples, hits and summed confidence.
struct BinTotals {
  std::vector<double> count, hits, confidence;
};

Figure ece_of(const BinTotals& totals) {
  double n = 0.0;
  for (double c : totals.count) n += c;
  if (n == 0.0) return std::nullopt;
  double ece = 0.0;
  for (std::size_t b = 0; b < totals.count.size(); ++b) {
    if (totals.count[b] == 0.0) continue;
    ece += totals.count[b] / n *
           std::abs(totals.hits[b] / totals.count[b] - totals.confidence[b] / totals.count[b]);
  }
  return ece;
}

class Calibration : public Metric {
 public:
  explicit Calibration(const Parameters& p) : bins_(int_parameter(p, "bins", 15)) {
    if (bins_ < 1 || bins_ > 1000) {
      throw Error("metric 'calibration': bins must be in [1, 1000], got " + std::to_string(bins_));
    }
    const auto bins = static_cast<std::size_t>(bins_);
    per_bin_ = (1000 + bins - 1) / bins;
  }

  void reset(const MetricContext& context) override {
    check_context(context, Average::Auto, "calibration");
    context_ = context;
    k_ = context.class_names.size();
    const std::size_t fine = static_cast<std::size_t>(bins_) * per_bin_;
    top_.reset(fine);
    classwise_.assign(k_, Reliability{});
    for (auto& r : classwise_) r.reset(fine);
    class_counts_.assign(k_, 0);
    ready_ = true;
  }

  void update(const float* probabilities, const std::int64_t* labels,
              std::size_t count) override {
    if (!ready_) throw Error("metric 'calibration': update() called before reset()");
    for (std::size_t i = 0; i < count; ++i) {
      if (labels[i] < 0) continue;
      const float* row = probabilities + i * k_;
      check_row(row, k_, labels[i], "calibration");
      const auto y = static_cast<std::size_t>(labels[i]);
      ++class_counts_[y];
      const std::size_t predicted = argmax(row, k_);
      top_.add(row[predicted], predicted == y);
      for (std::size_t c = 0; c < k_; ++c) classwise_[c].add(row[c], c == y);
    }
  }

  nlohmann::json compute() const override {
    if (!ready_) throw Error("metric 'calibration': compute() called before reset()");
    BinTotals top = totals(top_);
    Figure ece = ece_of(top);
    nlohmann::json out;
    out["metric"] = "calibration";
    out["value"] = to_json(ece);
    out["ece"] = to_json(ece);
    std::int64_t total = 0;
    for (auto n : class_counts_) total += n;
    out["count"] = total;
    nlohmann::json bins = nlohmann::json::array();
    const double width = 1.0 / static_cast<double>(bins_);
    for (std::size_t b = 0; b < top.count.size(); ++b) {
      const double n = top.count[b];
      bins.push_back({{"lower", static_cast<double>(b) * width},
                      {"upper", static_cast<double>(b + 1) * width},
                      {"count", static_cast<std::int64_t>(n)},
                      {"confidence", n > 0 ? nlohmann::json(top.confidence[b] / n) : nullptr},
                      {"accuracy", n > 0 ? nlohmann::json(top.hits[b] / n) : nullptr}});
    }
    out["bins"] = bins;
    std::vector<ClassFigure> figures;
    nlohmann::json per_class = nlohmann::json::object(), support = nlohmann::json::object(),
                   undefined = nlohmann::json::array();
    for (std::size_t c = 0; c < k_; ++c) {
      ClassFigure f;
      f.value = ece_of(totals(classwise_[c]));
      f.undefined = !f.value;
      figures.push_back(f);
      per_class[context_.class_names[c]] = to_json(f.value);
      support[context_.class_names[c]] = class_counts_[c];
      if (f.undefined) undefined.push_back(context_.class_names[c]);
    }
    Averages averages = average(figures, class_counts_);
    out["per_class"] = per_class;
    out["support"] = support;
    out["macro"] = to_json(averages.macro);
    out["weighted"] = to_json(averages.weighted);
    if (binary_applies(context_)) {
      const auto positive = static_cast<std::size_t>(context_.positive_class);
      out["binary"] = to_json(figures[positive].value);
      out["positive_class"] = context_.class_names[positive];
    }
    out["undefined"] = undefined;
    if (context_.bootstrap > 0) {
      out["ci95"] = to_json(bootstrap_interval(total));
      out["bootstrap"] = {{"resamples", context_.bootstrap}, {"seed", context_.bootstrap_seed}};
    }
    return out;
  }

 private:
  BinTotals totals(const Reliability& r) const {
    BinTotals t;
    const auto bins = static_cast<std::size_t>(bins_);
    t.count.assign(bins, 0.0);
    t.hits.assign(bins, 0.0);
    t.confidence.assign(bins, 0.0);
    for (std::size_t f = 0; f < r.hits.size(); ++f) {
      const std::size_t b = f / per_bin_;
      t.count[b] += static_cast<double>(r.hits[f] + r.misses[f]);
      t.hits[b] += static_cast<double>(r.hits[f]);
      t.confidence[b] += r.hit_confidence[f] + r.miss_confidence[f];
    }
    return t;
  }

  std::optional<std::pair<double, double>> bootstrap_interval(std::int64_t total) const {
    if (total == 0) return std::nullopt;
    const std::size_t fine = top_.hits.size();
    // Cells: the hits of every fine bin, then the misses.
    std::vector<std::int64_t> cells(top_.hits);
    cells.insert(cells.end(), top_.misses.begin(), top_.misses.end());
    std::vector<double> mean_confidence(2 * fine, 0.0);
    for (std::size_t f = 0; f < fine; ++f) {
      if (top_.hits[f] > 0) mean_confidence[f] = top_.hit_confidence[f] / static_cast<double>(top_.hits[f]);
      if (top_.misses[f] > 0) {
        mean_confidence[fine + f] = top_.miss_confidence[f] / static_cast<double>(top_.misses[f]);
      }
    }
    std::mt19937_64 rng(context_.bootstrap_seed);
    std::vector<std::int64_t> drawn;
    std::vector<Figure> values;
    const auto bins = static_cast<std::size_t>(bins_);
    for (std::int64_t r = 0; r < context_.bootstrap; ++r) {
      resample(cells, total, total, rng, drawn);
      BinTotals t;
      t.count.assign(bins, 0.0);
      t.hits.assign(bins, 0.0);
      t.confidence.assign(bins, 0.0);
      for (std::size_t cell = 0; cell < 2 * fine; ++cell) {
        if (drawn[cell] == 0) continue;
        const std::size_t b = (cell % fine) / per_bin_;
        const auto n = static_cast<double>(drawn[cell]);
        t.count[b] += n;
        if (cell < fine) t.hits[b] += n;
        t.confidence[b] += n * mean_confidence[cell];
      }
      values.push_back(ece_of(t));
    }
    return percentile_interval(values);
  }

  std::int64_t bins_;
  std::size_t per_bin_ = 1;
  MetricContext context_;
  std::size_t k_ = 0;
  Reliability top_;
  std::vector<Reliability> classwise_;
  std::vector<std::int64_t> class_counts_;
  bool ready_ = false;
};

}  // namespace

void register_score_metrics(Registry& registry) {
  Schema roc_schema;
  add_average_parameter(roc_schema);
  registry.add<RocAuc>(kinds::metric, "roc_auc",
                       "One-vs-rest area under the ROC curve per class, with the curve points",
                       std::move(roc_schema));
  Schema calibration_schema;
  calibration_schema
      .add_int("bins", 15, "number of equal-width confidence bins on [0, 1] for the ECE")
      .range(1, 1000);
  registry.add<Calibration>(kinds::metric, "calibration",
                            "Expected calibration error of the top label, with reliability bins",
                            std::move(calibration_schema));
}

}  // namespace cerebra::metrics
