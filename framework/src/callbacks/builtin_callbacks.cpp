#include "builtin_callbacks.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>

#include <fmt/format.h>

#include "cerebra/error.h"
#include "cerebra/evaluate.h"
#include "cerebra/report.h"
#include "cerebra/run_directory.h"
#include "cerebra/run_store.h"

namespace cerebra {

namespace {

std::string format_duration(double seconds) {
  int total = static_cast<int>(seconds + 0.5);
  return total >= 3600 ? fmt::format("{}:{:02}:{:02}", total / 3600, total / 60 % 60, total % 60)
                       : fmt::format("{}:{:02}", total / 60, total % 60);
}

// metrics.jsonl: one line per finished epoch.
class MetricsLog : public Callback {
 public:
  explicit MetricsLog(const Parameters&) {}
  void on_epoch_end(TrainingSession& session) override {
    session.directory().append_metrics(session.state().figures);
  }
};

// checkpoints/best.pt when the epoch is the best so far, last.pt every epoch.
class Checkpoint : public Callback {
 public:
  explicit Checkpoint(const Parameters&) {}
  void on_epoch_end(TrainingSession& session) override {
    if (session.state().is_best) session.save_checkpoint("best");
    session.save_checkpoint("last");
  }
};

// The progress bar on a terminal, and one line per epoch in the log.
class Progress : public Callback {
 public:
  explicit Progress(const Parameters&) {}

  void on_run_start(TrainingSession& session) override {
    terminal_ = &session.log() == &std::cerr && isatty(fileno(stderr));
  }

  void on_batch_end(TrainingSession& session) override {
    if (!terminal_) return;
    const RunState& s = session.state();
    const std::size_t batches = std::max<std::size_t>(s.batches, 1);
    const double rate = static_cast<double>(s.images_seen) / std::max(s.epoch_seconds, 1e-9);
    const int width = 24, done = static_cast<int>(width * s.batch / batches);
    std::fprintf(stderr, "\repoch %d/%d [%s%s] %3d%% loss %.4f %.0f img/s ETA %s   ", s.epoch + 1, s.epochs,
                 std::string(static_cast<std::size_t>(done), '=').c_str(),
                 std::string(static_cast<std::size_t>(width - done), ' ').c_str(),
                 static_cast<int>(100 * s.batch / batches), s.epoch_loss, rate,
                 format_duration(static_cast<double>(batches - s.batch) * s.epoch_seconds / static_cast<double>(s.batch)).c_str());
  }

  void on_epoch_end(TrainingSession& session) override {
    clear_line();
    const RunState& s = session.state();
    const auto& f = s.figures;
    std::ostream& log = session.log();
    // Self-supervised runs have no training accuracy nor validation loss.
    log << fmt::format("epoch {}/{}: train loss {:.4f}", s.epoch, s.epochs, f["train_loss"].get<double>());
    if (f.contains("train_accuracy")) log << fmt::format(" acc {:.4f}", f["train_accuracy"].get<double>());
    log << (f.contains("val_loss") ? fmt::format(" | val loss {:.4f}", f["val_loss"].get<double>()) : " |");
    for (auto& [key, value] : f.items()) {
      if (key.rfind("val_", 0) == 0 && key != "val_loss") {
        log << fmt::format(" {} {:.4f}", key.substr(4), value.is_number() ? value.get<double>() : std::nan(""));
      }
    }
    log << fmt::format(" | {:.0f} img/s, {:.1f}s{}\n", f["images_per_second"].get<double>(),
                       f["seconds"].get<double>(), s.is_best ? " *" : "");
  }

  void on_run_end(TrainingSession&) override { clear_line(); }

 private:
  void clear_line() {
    if (terminal_) std::fprintf(stderr, "\r%*s\r", 100, "");
  }
  bool terminal_ = false;
};

// summary.json at the end of the run.
class Summary : public Callback {
 public:
  explicit Summary(const Parameters&) {}
  void on_run_end(TrainingSession& session) override { session.directory().write_summary(session.state().summary); }
};

// The run store (cerebra/run_store.h) indexes the run at its start, after each
// epoch and at its end. The run directory is the record; the store is an
// index that `cerebra runs index` can rebuild, so a store that cannot be
// written is a warning in the log, never a failed run.
class StoreRecorder : public Callback {
 public:
  explicit StoreRecorder(const Parameters&) {}

  void on_run_start(TrainingSession& session) override {
    path_ = store_path_for_run(session.directory().path());
    record(session, [&](RunStore& store) { store.record_start(session.directory(), code_version()); });
  }
  void on_epoch_end(TrainingSession& session) override {
    record(session, [&](RunStore& store) { store.record_epoch(session.directory(), session.state().figures); });
  }
  void on_run_end(TrainingSession& session) override {
    if (record(session, [&](RunStore& store) { store.record_end(session.directory(), session.state().summary); })) {
      session.log() << "store: indexed in " << path_ << "\n";
    }
  }

 private:
  template <typename Write>
  bool record(TrainingSession& session, Write write) {
    try {
      RunStore store(path_);
      write(store);
      return true;
    } catch (const std::exception& error) {
      session.log() << "store: warning: the run is not indexed (" << brief(error)
                    << "); the run goes on. Index it later with: cerebra runs index " << session.directory().path()
                    << "\n";
      return false;
    }
  }
  std::string path_;
};

// report.html at the end of the run, after summary.json. The run's results
// are already on disk, so a report that cannot be written does not change the
// run's status: the log says why and how to write it later.
class ReportWriter : public Callback {
 public:
  explicit ReportWriter(const Registry& registry) : registry_(registry) {}
  void on_run_end(TrainingSession& session) override {
    const RunDirectory& run = session.directory();
    std::ostream& log = session.log();
    try {
      ReportOptions options;
      options.explainer = gallery_explainer(registry_);
      Report report = build_report({run.path()}, options);
      run.write_report(report.html);
      log << "report: " << run.report_file() << "\n";
      for (const auto& problem : report.problems) log << "report: incomplete: " << problem << "\n";
    } catch (const std::exception& error) {
      log << "report: not written (" << brief(error) << "); the run's results are complete. Write it later with: "
          << "cerebra report " << run.path() << "\n";
    }
  }

 private:
  const Registry& registry_;
};

// Stops after `patience` epochs without a new best of the run's monitor.
class EarlyStopping : public Callback {
 public:
  explicit EarlyStopping(const Parameters& p) : patience_(p.get_int("patience")) {}
  void on_epoch_end(TrainingSession& session) override {
    const RunState& s = session.state();
    waited_ = s.is_best ? 0 : waited_ + 1;
    if (waited_ >= patience_) {
      session.request_stop("early_stopped", fmt::format("no improvement of {} for {} epochs", s.monitor, patience_));
    }
  }
  nlohmann::json state() const override { return {{"epochs_without_improvement", waited_}}; }
  void restore(const nlohmann::json& state) override { waited_ = state.at("epochs_without_improvement").get<std::int64_t>(); }

 private:
  std::int64_t patience_;
  std::int64_t waited_ = 0;
};

}  // namespace

void register_builtin_callbacks(Registry& registry) {
  registry.add<MetricsLog>(kinds::callback, "metrics_log", "Appends each epoch's figures to metrics.jsonl (always on)", {});
  registry.add<Checkpoint>(kinds::callback, "checkpoint",
                           "Writes checkpoints/best.pt and last.pt after each epoch (always on)", {});
  registry.add<Progress>(kinds::callback, "progress", "Progress bar on a terminal and one log line per epoch (always on)",
                         {});
  registry.add<Summary>(kinds::callback, "summary", "Writes summary.json when the run ends (always on)", {});
  registry.add<StoreRecorder>(kinds::callback, "store",
                              "Indexes the run in the run store ($CEREBRA_STORE, else <[run] output>/.cerebra/store.db) "
                              "at its start, after each epoch and at its end (always on)",
                              {});
  // The report's Grad-CAM gallery opens the run's model, so the writer keeps the registry.
  ComponentInfo report;
  report.kind = kinds::callback;
  report.name = "report";
  report.summary = "Writes report.html, the run's self-contained HTML report, when the run ends (always on)";
  report.factory = [&registry](const Parameters&) -> std::unique_ptr<Component> {
    return std::make_unique<ReportWriter>(registry);
  };
  registry.add(std::move(report));
  Schema early;
  early.add_int("patience", 5, "Epochs without a new best of [training] monitor before training stops")
      .range(1, 100000);
  registry.add<EarlyStopping>(kinds::callback, "early_stopping",
                              "Stops training when [training] monitor has not improved for `patience` epochs", early);
}

namespace detail {

const std::vector<std::string>& always_on_callbacks() {
  // The checkpoint before the metrics line: a line in metrics.jsonl always
  // has its checkpoint, and a resume restores a line the crash lost from the
  // checkpoint's training state.
  // The store after the metrics line and the summary, which it indexes.
  // The report last: it reads summary.json.
  static const std::vector<std::string> names{"checkpoint", "metrics_log", "progress", "summary", "store", "report"};
  return names;
}

std::vector<std::unique_ptr<Callback>> make_callbacks(const Pipeline& pipeline, const Registry& registry) {
  const auto& always = always_on_callbacks();
  std::vector<std::unique_ptr<Callback>> callbacks;
  for (std::size_t i = 0; i < pipeline.callbacks.size(); ++i) {
    const ComponentConfig& config = pipeline.callbacks[i];
    if (std::find(always.begin(), always.end(), config.name) != always.end()) {
      throw Error(fmt::format("[[callbacks]] #{}: '{}' always runs; remove it from the pipeline", i + 1, config.name));
    }
    callbacks.push_back(registry.create_as<Callback>(kinds::callback, config.name, config.parameters));
  }
  for (const auto& name : always) callbacks.push_back(registry.create_as<Callback>(kinds::callback, name, {}));
  return callbacks;
}

}  // namespace detail
}  // namespace cerebra
