// Running a pipeline: the run directory, training, evaluation. No torch in
// this header; the trainer lives in framework/src/training.
#pragma once

#include <iosfwd>
#include <string>

#include "cerebra/files.h"  // write_file_atomically, for callers that had it from here
#include "cerebra/pipeline.h"
#include "cerebra/registry.h"

namespace cerebra {

struct RunOptions {
  std::string resume_dir;     // continue this run directory instead of starting one
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

// Re-reads a run directory's resolved pipeline and continues it where it stopped.
RunResult resume_run(const std::string& run_dir, const Registry& registry, const RunOptions& options);

}  // namespace cerebra
