// Schedule components: constant, step, cosine, plateau and one_cycle, each
// with an optional linear warm-up. No torch: a schedule is arithmetic.
#include <algorithm>
#include <cmath>
#include <limits>

#include "cerebra/plugin_abi.h"
#include "cerebra/schedule.h"

namespace {

using cerebra::ScheduleClock;

// Linear warm-up over the first `warmup_epochs` epochs, factor (e + 1) / (w + 1),
// then the schedule proper, which sees the clock with the warm-up taken off.
class WarmedSchedule : public cerebra::Schedule {
 public:
  explicit WarmedSchedule(const cerebra::Parameters& p) : warmup_(static_cast<int>(p.get_int("warmup_epochs"))) {}

  double factor(const ScheduleClock& clock) const final {
    if (clock.epoch < warmup_) return static_cast<double>(clock.epoch + 1) / (warmup_ + 1);
    ScheduleClock after = clock;
    after.epoch = clock.epoch - warmup_;
    after.epochs = std::max(1, clock.epochs - warmup_);
    return after_warmup(after);
  }

 protected:
  virtual double after_warmup(const ScheduleClock& clock) const = 0;

 private:
  int warmup_;
};

class Constant : public WarmedSchedule {
 public:
  using WarmedSchedule::WarmedSchedule;

 protected:
  double after_warmup(const ScheduleClock&) const override { return 1.0; }
};

class Step : public WarmedSchedule {
 public:
  explicit Step(const cerebra::Parameters& p)
      : WarmedSchedule(p), step_size_(static_cast<int>(p.get_int("step_size"))), gamma_(p.get_float("gamma")) {}

 protected:
  double after_warmup(const ScheduleClock& clock) const override {
    return std::pow(gamma_, clock.epoch / step_size_);
  }

 private:
  int step_size_;
  double gamma_;
};

class Cosine : public WarmedSchedule {
 public:
  explicit Cosine(const cerebra::Parameters& p) : WarmedSchedule(p), floor_(p.get_float("min_factor")) {}

 protected:
  double after_warmup(const ScheduleClock& clock) const override {
    return floor_ + (1 - floor_) * 0.5 * (1.0 + std::cos(M_PI * clock.epoch / clock.epochs));
  }

 private:
  double floor_;
};

// Multiplies the rate by gamma when the monitored figure has not improved by
// more than min_delta for `patience` epochs.
class Plateau : public WarmedSchedule {
 public:
  explicit Plateau(const cerebra::Parameters& p)
      : WarmedSchedule(p), monitor_(p.get_string("monitor")), patience_(p.get_int("patience")),
        gamma_(p.get_float("gamma")), min_delta_(p.get_float("min_delta")),
        minimises_(monitor_.find("loss") != std::string::npos) {}

  void observe(const nlohmann::json& figures) override {
    if (!figures.contains(monitor_) || !figures[monitor_].is_number()) {
      std::string keys;
      for (auto& item : figures.items()) keys += (keys.empty() ? "" : ", ") + item.key();
      throw cerebra::Error("[schedule] plateau: monitor = \"" + monitor_ + "\" is not among the per-epoch figures: " + keys);
    }
    const double value = figures[monitor_].get<double>();
    const bool better = std::isnan(best_) || (minimises_ ? value < best_ - min_delta_ : value > best_ + min_delta_);
    if (better) {
      best_ = value;
      wait_ = 0;
    } else if (++wait_ > patience_) {
      factor_ *= gamma_;
      wait_ = 0;
    }
  }

  nlohmann::json state() const override { return {{"factor", factor_}, {"wait", wait_}, {"best", best_}}; }
  void restore(const nlohmann::json& state) override {
    factor_ = state.at("factor").get<double>();
    wait_ = state.at("wait").get<std::int64_t>();
    best_ = state.at("best").is_number() ? state.at("best").get<double>() : std::nan("");
  }

 protected:
  double after_warmup(const ScheduleClock&) const override { return factor_; }

 private:
  std::string monitor_;
  std::int64_t patience_;
  double gamma_, min_delta_;
  bool minimises_;
  double factor_ = 1.0;
  std::int64_t wait_ = 0;
  double best_ = std::numeric_limits<double>::quiet_NaN();
};

// Smith and Topin's one-cycle policy, per batch, as PyTorch's OneCycleLR with
// cosine annealing: from 1/div_factor up to 1 over pct_start of the steps,
// then down to 1/(div_factor * final_div_factor).
class OneCycle : public WarmedSchedule {
 public:
  explicit OneCycle(const cerebra::Parameters& p)
      : WarmedSchedule(p), rise_(p.get_float("pct_start")), start_(1.0 / p.get_float("div_factor")),
        end_(start_ / p.get_float("final_div_factor")) {}
  bool per_batch() const override { return true; }

 protected:
  double after_warmup(const ScheduleClock& clock) const override {
    const double total = static_cast<double>(clock.epochs) * static_cast<double>(clock.batches);
    const double step = static_cast<double>(clock.epoch) * static_cast<double>(clock.batches) + static_cast<double>(clock.batch);
    const double peak = std::max(1.0, rise_ * total - 1);
    auto anneal = [](double from, double to, double fraction) {
      return to + (from - to) * 0.5 * (1 + std::cos(M_PI * std::clamp(fraction, 0.0, 1.0)));
    };
    if (step <= peak) return anneal(start_, 1.0, step / peak);
    return anneal(1.0, end_, (step - peak) / std::max(1.0, total - 1 - peak));
  }

 private:
  double rise_, start_, end_;
};

cerebra::Schema warmed_schema() {
  cerebra::Schema schema;
  schema.add_int("warmup_epochs", 0, "Linear warm-up epochs before the schedule (factor (e+1)/(w+1))")
      .range(0, 100000);
  return schema;
}

void register_components(cerebra::Registry& registry) {
  using cerebra::kinds::schedule;
  registry.add<Constant>(schedule, "constant", "The same learning rate throughout (after any warm-up)", warmed_schema());

  cerebra::Schema step = warmed_schema();
  step.add_int("step_size", 10, "Epochs between decays").range(1, 100000);
  step.add_float("gamma", 0.1, "Factor applied every step_size epochs").range(0, 1);
  registry.add<Step>(schedule, "step", "Multiply the rate by gamma every step_size epochs", step);

  cerebra::Schema cosine = warmed_schema();
  cosine.add_float("min_factor", 0, "Smallest factor reached at the last epoch").range(0, 1);
  registry.add<Cosine>(schedule, "cosine", "Cosine annealing over the epochs after warm-up", cosine);

  cerebra::Schema plateau = warmed_schema();
  plateau.add_string("monitor", "val_loss", "Per-epoch figure followed (any metrics.jsonl key); *loss* figures are minimised");
  plateau.add_int("patience", 3, "Epochs without improvement before the rate drops").range(0, 100000);
  plateau.add_float("gamma", 0.1, "Factor applied at each drop").range(0, 1);
  plateau.add_float("min_delta", 1e-4, "Smallest change that counts as an improvement").range(0, 1e9);
  registry.add<Plateau>(schedule, "plateau", "Reduce the rate when a monitored figure stops improving", plateau);

  cerebra::Schema cycle = warmed_schema();
  cycle.add_float("pct_start", 0.3, "Share of the steps spent rising to the peak rate").range(0, 1);
  cycle.add_float("div_factor", 25, "The rate starts at learning_rate / div_factor").range(1, 1e6);
  cycle.add_float("final_div_factor", 1e4, "It ends at the start rate / final_div_factor").range(1, 1e9);
  registry.add<OneCycle>(schedule, "one_cycle", "One-cycle policy per batch (Smith and Topin 2019)", cycle);
}

}  // namespace

CEREBRA_PLUGIN("schedules", "1.0.0", "Learning-rate schedules: constant, step, cosine, plateau, one_cycle",
               register_components)
