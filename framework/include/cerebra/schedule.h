// Interface of `schedule` components: the learning rate over training, as a
// multiple of each parameter group's base rate. No torch here.
#pragma once

#include <cstddef>

#include <nlohmann/json.hpp>

#include "cerebra/registry.h"

namespace cerebra {

// Where training stands when a rate is asked for.
struct ScheduleClock {
  int epoch = 0;            // 0-based epoch being trained
  int epochs = 1;           // planned epochs
  std::size_t batch = 0;    // 0-based batch within the epoch
  std::size_t batches = 1;  // batches per epoch
};

class Schedule : public Component {
 public:
  ~Schedule() override;

  // Multiplier of the base learning rates at `clock`.
  virtual double factor(const ScheduleClock& clock) const = 0;
  // True when the rate changes within an epoch (asked before every batch);
  // otherwise it is asked once at the start of each epoch.
  virtual bool per_batch() const { return false; }
  // The figures of a finished epoch (a metrics.jsonl line), for schedules
  // that follow a monitored figure.
  virtual void observe(const nlohmann::json& epoch_figures) { (void)epoch_figures; }
  // What must survive a resume (stored in the checkpoint).
  virtual nlohmann::json state() const { return nullptr; }
  virtual void restore(const nlohmann::json& state) { (void)state; }
};

}  // namespace cerebra
