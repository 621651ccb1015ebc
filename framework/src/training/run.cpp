// Running a pipeline: a new run directory or a resumed one, handed to the trainer.
#include <algorithm>
#include <filesystem>
#include <iostream>

#include "cerebra/run.h"
#include "cerebra/weights.h"
#include "../distributed/run_rank.h"
#include "trainer.h"

namespace cerebra {

namespace fs = std::filesystem;

namespace {

// A Cerebra checkpoint's model tensors, flattened to "module.param" names.
void collect_checkpoint_tensors(torch::serialize::InputArchive& archive, const std::string& prefix, StateDict& out) {
  for (const auto& key : archive.keys()) {
    torch::Tensor tensor;
    if (archive.try_read(key, tensor)) {
      out.emplace_back(prefix + key, tensor);
      continue;
    }
    torch::serialize::InputArchive child;
    if (archive.try_read(key, child)) collect_checkpoint_tensors(child, prefix + key + ".", out);
  }
}

}  // namespace

WeightsReport load_starting_weights(ClassifierModel& model, const std::string& path, const WeightsOptions& options) {
  // A run directory, or one of its checkpoints, starts another run (e.g. train
  // on the four-class data, fine-tune on Br35H); anything else is a published
  // weights file.
  fs::path file = path;
  if (fs::is_directory(file)) file = RunDirectory::open(path).checkpoint_file("best");
  bool is_checkpoint = false;
  if (fs::exists(file) && file.extension() == ".pt") {
    torch::serialize::InputArchive archive;
    try {
      archive.load_from(file.string());
      torch::serialize::InputArchive model_archive;
      is_checkpoint = archive.try_read("model", model_archive);
      if (is_checkpoint) {
        StateDict state;
        collect_checkpoint_tensors(model_archive, "", state);
        return load_state_dict(model, state, file.string(), options);
      }
    } catch (const c10::Error&) {
      is_checkpoint = false;  // not a Cerebra checkpoint: read it as published weights
    }
  }
  if (!fs::exists(file)) throw Error(file.string() + ": no such weights file or run directory");
  return load_weights(model, file.string(), options);
}

namespace detail {

RunResult start_run(const Pipeline& pipeline, const Registry& registry, std::ostream& log, DataParallel* parallel,
                    const DirectoryReady& ready) {
  RunDirectory directory = RunDirectory::create(pipeline);
  RunLock lock = directory.lock();
  try {
    directory.write_pipeline(pipeline);
    if (ready) ready(directory, false);
    detail::Trainer trainer(pipeline, registry, directory, log, parallel);
    return trainer.run(false);
  } catch (const std::exception&) {
    // A run that failed before its first epoch holds nothing worth keeping
    // (the resolved pipeline and the split can be made again): no stub folder.
    std::error_code error;
    if (!fs::exists(directory.checkpoint_file("last"), error) && !directory.has_summary()) {
      fs::remove_all(directory.path(), error);
    }
    throw;
  }
}

}  // namespace detail

RunResult run_pipeline(const Pipeline& pipeline, const Registry& registry, const RunOptions& options) {
  std::ostream& log = options.log ? *options.log : std::cerr;
  if (!options.resume_dir.empty()) return resume_run(options.resume_dir, registry, options);
  if (auto world = detail::world_from_environment()) return detail::run_rank(*world, &pipeline, "", registry, options);
  return detail::start_run(pipeline, registry, log, nullptr, {});
}

const std::vector<std::string>& resumable_settings() {
  static const std::vector<std::string> settings{
      "run.device",       "run.threads",    "run.allocator",      "run.precision",      "loader.threads", "loader.prefetch",
      "loader.cache",     "loader.cache_dir", "loader.on_bad_file", "training.epochs"};
  return settings;
}

namespace {

// Every other setting shaped the checkpoint or the split it was trained on, so
// changing it on resume would silently mix two experiments in one run.
void check_resume_overrides(const std::vector<std::string>& overrides) {
  const auto& allowed = resumable_settings();
  std::vector<Diagnostic> problems;
  for (const auto& text : overrides) {
    const std::string key = text.substr(0, text.find('='));
    if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
    problems.push_back({{"--set " + text, 0, 0},
                        "'" + key + "' cannot change on --resume (the checkpoint was trained with the run's value; "
                        "start a new run to change it); settings that may change: " + join(allowed)});
  }
  if (!problems.empty()) throw ConfigError(problems);
}

}  // namespace

namespace detail {

RunResult continue_run(const std::string& run_dir, const Registry& registry, const RunOptions& options,
                       DataParallel* parallel, const DirectoryReady& ready) {
  std::ostream& log = options.log ? *options.log : std::cerr;
  check_resume_overrides(options.overrides);
  RunDirectory directory = RunDirectory::open(run_dir);
  RunLock lock = directory.lock();  // two resumes of one run would write over each other
  if (!fs::exists(directory.checkpoint_file("last"))) {
    throw Error(run_dir + ": no checkpoint to resume from (checkpoints/last.pt); the first epoch never finished");
  }
  directory.remove_temporaries();  // left by a process killed mid-write; the lock says none is writing now
  Pipeline pipeline = load_pipeline(directory.pipeline_file(), options.overrides, registry);
  if (!options.overrides.empty()) {
    // The run's pipeline.toml says what the run is, for eval and a later resume.
    directory.write_pipeline(pipeline);
    log << "resume with " << join(options.overrides, ", ") << " (pipeline.toml updated)\n";
  }
  if (ready) ready(directory, true);
  detail::Trainer trainer(pipeline, registry, directory, log, parallel);
  return trainer.run(true);
}

}  // namespace detail

RunResult resume_run(const std::string& run_dir, const Registry& registry, const RunOptions& options) {
  if (auto world = detail::world_from_environment()) return detail::run_rank(*world, nullptr, run_dir, registry, options);
  return detail::continue_run(run_dir, registry, options, nullptr, {});
}

}  // namespace cerebra
