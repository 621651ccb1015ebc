// Interface of `callback` components: hooks around the training loop, with
// read access to the run's state and figures. The run directory's writers
// (metrics log, checkpoints, summary), early stopping and the progress display
// are callbacks too. No torch here, so a callback plugin compiles quickly.
#pragma once

#include <cstddef>
#include <iosfwd>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cerebra/registry.h"

namespace cerebra {

class RunDirectory;

// Where training stands. Updated by the trainer before each hook.
struct RunState {
  int epoch = 0;                // epochs completed
  int epochs = 0;               // planned
  std::size_t batch = 0;        // 1-based batch of the epoch in progress (0 outside one)
  std::size_t batches = 0;      // batches per epoch
  std::size_t images_seen = 0;  // training images of the epoch so far
  double batch_loss = 0;        // loss of the last batch
  double epoch_loss = 0;        // mean training loss of the epoch so far
  double epoch_seconds = 0;     // time spent in the epoch so far
  std::vector<std::string> class_names;
  std::string monitor;          // the figure that picks the best epoch
  bool monitor_minimises = false;
  double best_value = 0;        // NaN until an epoch has finished
  int best_epoch = 0;
  bool is_best = false;         // whether the epoch just finished is the best so far
  nlohmann::json figures;       // the finished epoch's metrics.jsonl line (at epoch end)
  nlohmann::json summary;       // summary.json as it will be written (at run end)
  std::string status;           // at run end: completed, early_stopped, interrupted or failed
  std::string message;
};

// What a callback may see and ask for; implemented by the trainer.
class TrainingSession {
 public:
  virtual ~TrainingSession() = default;
  virtual const RunState& state() const = 0;
  virtual const RunDirectory& directory() const = 0;
  virtual std::ostream& log() = 0;
  // Writes checkpoints/<name>.pt: model, optimizer and every component's state.
  virtual void save_checkpoint(const std::string& name) = 0;
  // Ends training after the current epoch with this status ("early_stopped", ...).
  virtual void request_stop(const std::string& status, const std::string& message) = 0;
};

class Callback : public Component {
 public:
  ~Callback() override;

  virtual void on_run_start(TrainingSession& session) { (void)session; }
  virtual void on_epoch_start(TrainingSession& session) { (void)session; }
  virtual void on_batch_start(TrainingSession& session) { (void)session; }
  virtual void on_batch_end(TrainingSession& session) { (void)session; }
  virtual void on_epoch_end(TrainingSession& session) { (void)session; }
  virtual void on_run_end(TrainingSession& session) { (void)session; }
  // What must survive a resume (stored in the checkpoint).
  virtual nlohmann::json state() const { return nullptr; }
  virtual void restore(const nlohmann::json& state) { (void)state; }
};

}  // namespace cerebra
