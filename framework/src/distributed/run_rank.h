// One rank's part of a data-parallel run (`cerebra run` under torchrun,
// Slurm or --nproc): rank 0 runs the pipeline into the run directory as a
// single process would; the others take rank 0's resolved pipeline (and, on
// --resume, its checkpoint) through the rendezvous store and train in step
// in a scratch folder of their own, removed when they finish.
#pragma once

#include <functional>
#include <iosfwd>
#include <string>

#include "cerebra/run.h"
#include "world.h"

namespace cerebra {
class RunDirectory;
}

namespace cerebra::detail {

class DataParallel;

// Called with the prepared run directory just before training starts (and
// whether it resumes): rank 0 hands its files to the other ranks there.
using DirectoryReady = std::function<void(const RunDirectory&, bool resume)>;

// The single-process paths of run_pipeline and resume_run, with a rank's
// DataParallel (null for one process); implemented in training/run.cpp.
RunResult start_run(const Pipeline& pipeline, const Registry& registry, std::ostream& log, DataParallel* parallel,
                    const DirectoryReady& ready);
RunResult continue_run(const std::string& run_dir, const Registry& registry, const RunOptions& options,
                       DataParallel* parallel, const DirectoryReady& ready);

// Joins the job and runs this rank: `pipeline` for a new run, or `resume_dir`.
RunResult run_rank(const WorldSpec& world, const Pipeline* pipeline, const std::string& resume_dir,
                   const Registry& registry, const RunOptions& options);

}  // namespace cerebra::detail
