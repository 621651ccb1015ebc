// Running a pipeline: the run directory, training, evaluation. No torch in
// this header; the trainer lives in framework/src/training.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "cerebra/files.h"  // write_file_atomically, for callers that had it from here
#include "cerebra/pipeline.h"
#include "cerebra/registry.h"

namespace cerebra {

struct RunOptions {
  std::string resume_dir;     // continue this run directory instead of starting one
  // With resume_dir: "section.key=value" changes to the run's pipeline, only
  // of resumable_settings(); the run's pipeline.toml is rewritten with them.
  std::vector<std::string> overrides;
  std::ostream* log = nullptr;  // progress and messages (default: std::cerr)
};

struct RunResult {
  std::string run_dir;
  std::string status;  // "completed", "early_stopped", "interrupted", "failed"
  std::string message;
  int epochs_completed = 0;
};

// Trains and evaluates `pipeline`, writing everything into a new run directory
// (or continuing `options.resume_dir`). Throws Error for problems found before
// training starts; problems during training end with status "failed" and the
// last good checkpoint kept.
RunResult run_pipeline(const Pipeline& pipeline, const Registry& registry, const RunOptions& options);

// Re-reads a run directory's resolved pipeline and continues it where it
// stopped, with options.overrides applied. Throws ConfigError naming each
// override of a setting that is not resumable.
RunResult resume_run(const std::string& run_dir, const Registry& registry, const RunOptions& options);

// "section.key" of the settings a resumed run may change: those that do not
// alter what the checkpoint trained or how the data was split and decoded —
// where it runs, how fast it reads, what it does with a bad file, and how many
// epochs it trains in all.
const std::vector<std::string>& resumable_settings();

}  // namespace cerebra
