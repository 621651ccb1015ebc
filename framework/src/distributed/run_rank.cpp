// Rank 0 publishes its run; the other ranks train alongside in a scratch folder.
#include "run_rank.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "cerebra/files.h"
#include "cerebra/run_directory.h"
#include "../training/trainer.h"
#include "data_parallel.h"

namespace cerebra::detail {

namespace fs = std::filesystem;

namespace {

// Store keys of what rank 0 hands over.
const char* const kPipeline = "run/pipeline.toml";
const char* const kResume = "run/resume";
const char* const kCheckpoint = "run/last.pt";
const char* const kMetrics = "run/metrics.jsonl";

// The rank's own folder for the run directory it never shares.
class ScratchFolder {
 public:
  explicit ScratchFolder(int rank)
      : path_(fs::temp_directory_path() / fmt::format("cerebra-rank{}-{}", rank, ::getpid())) {
    fs::create_directories(path_);
  }
  ~ScratchFolder() {
    std::error_code error;
    fs::remove_all(path_, error);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// Lines prefixed "[rank N] ", for CEREBRA_LOG_RANKS=all.
class PrefixBuffer : public std::streambuf {
 public:
  PrefixBuffer(std::ostream& out, std::string prefix) : out_(out), prefix_(std::move(prefix)) {}

 protected:
  int overflow(int c) override {
    if (c == EOF) return c;
    if (line_start_) out_ << prefix_;
    out_.put(static_cast<char>(c));
    line_start_ = c == '\n';
    return c;
  }

 private:
  std::ostream& out_;
  std::string prefix_;
  bool line_start_ = true;
};

void publish(Communicator& communicator, const RunDirectory& directory, bool resume) {
  communicator.set(kPipeline, read_file(directory.pipeline_file()));
  communicator.set(kResume, resume ? "1" : "0");
  if (!resume) return;
  communicator.set(kCheckpoint, read_file(directory.checkpoint_file("last")));
  communicator.set(kMetrics, fs::exists(directory.metrics_file()) ? read_file(directory.metrics_file()) : "");
}

// Ranks other than 0: rank 0's pipeline (and checkpoint) in a scratch run directory.
RunResult follow(DataParallel& parallel, const Registry& registry, std::ostream& log) {
  Communicator& communicator = parallel.communicator();
  ScratchFolder scratch(parallel.rank());
  const std::string pipeline_file = (scratch.path() / "pipeline.toml").string();
  write_file_atomically(pipeline_file, communicator.get(kPipeline));
  const bool resume = communicator.get(kResume) == "1";
  const Pipeline pipeline = load_pipeline(pipeline_file, {"run.output=" + scratch.path().string()}, registry);
  RunDirectory directory = RunDirectory::create(pipeline);
  directory.write_pipeline(pipeline);
  if (resume) {
    write_file_atomically(directory.checkpoint_file("last"), communicator.get(kCheckpoint));
    write_file_atomically(directory.metrics_file(), communicator.get(kMetrics));
  }
  Trainer trainer(pipeline, registry, directory, log, &parallel);
  return trainer.run(resume);
}

}  // namespace

RunResult run_rank(const WorldSpec& world, const Pipeline* pipeline, const std::string& resume_dir,
                   const Registry& registry, const RunOptions& options) {
  std::ostream& log = options.log ? *options.log : std::cerr;
  DataParallel parallel(std::make_unique<Communicator>(world));
  if (world.rank == 0) {
    log << fmt::format("data-parallel: {} ranks over Gloo, rendezvous at {}:{}, timeout {} s\n", world.world,
                       world.master_addr, world.master_port, world.timeout_seconds);
    auto ready = [&](const RunDirectory& directory, bool resume) {
      publish(parallel.communicator(), directory, resume);
    };
    return pipeline ? start_run(*pipeline, registry, log, &parallel, ready)
                    : continue_run(resume_dir, registry, options, &parallel, ready);
  }
  // Only rank 0 speaks unless asked: the others would repeat its lines.
  const char* all = std::getenv("CEREBRA_LOG_RANKS");
  PrefixBuffer prefixed(log, fmt::format("[rank {}] ", world.rank));
  std::ostream rank_log(all && std::string(all) == "all" ? static_cast<std::streambuf*>(&prefixed) : nullptr);
  RunResult result = follow(parallel, registry, rank_log);
  if (result.status == "failed") log << fmt::format("[rank {}] {}\n", world.rank, result.message);
  return result;
}

}  // namespace cerebra::detail
