// Run directories written for the store's tests: a pipeline.toml, a
// metrics.jsonl and a summary.json, as a finished run leaves them.
#pragma once

#include <filesystem>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cerebra/run_directory.h"
#include "test_support.h"

namespace cerebra::testing {

inline bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// The sqlite3 command-line client's answer to one query on a store, without the last newline.
inline std::string sqlite3_query(const std::filesystem::path& store, const std::string& sql) {
  const CommandResult result = run_command("sqlite3 '" + store.string() + "' \"" + sql + "\"");
  EXPECT_EQ(result.exit_code, 0) << result.output;
  std::string out = result.output;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

struct RunSpec {
  std::string model = "cnn";
  double learning_rate = 0.001;
  int epochs = 3;
  double test_accuracy = 0.9;
  bool finished = true;  // writes summary.json and checkpoints/best.pt
};

// `output`/`name`, holding what a run with `spec` would have written.
inline RunDirectory write_run(const std::filesystem::path& output, const std::string& name, const RunSpec& spec = {}) {
  const std::filesystem::path folder = output / name;
  std::filesystem::create_directories(folder / "checkpoints");
  write_text((folder / "pipeline.toml").string(),
             fmt::format("[run]\nname = \"{}\"\noutput = \"{}\"\n\n[dataset]\ntype = \"synthetic\"\nclasses = 2\n\n"
                         "[[preprocess]]\ntype = \"resize\"\nsize = 32\n\n[model]\ntype = \"{}\"\ndropout = 0.3\n\n"
                         "[optimizer]\ntype = \"adam\"\nlearning_rate = {}\n\n[training]\nepochs = {}\n",
                         name, output.string(), spec.model, spec.learning_rate, spec.epochs));
  RunDirectory run = RunDirectory::open(folder.string());
  for (int epoch = 1; epoch <= spec.epochs; ++epoch) {
    run.append_metrics({{"epoch", epoch}, {"train_loss", 1.0 / epoch}, {"val_accuracy", 0.5 + 0.1 * epoch}});
  }
  if (spec.finished) {
    run.write_summary({{"status", "completed"},
                       {"message", ""},
                       {"dataset", "synthetic"},
                       {"model", spec.model},
                       {"classes", nlohmann::json::array({"no", "yes"})},
                       {"epochs_completed", spec.epochs},
                       {"best_epoch", spec.epochs},
                       {"val", {{"loss", 0.4}, {"metrics", {{"accuracy", {{"value", 0.8}}}}}}},
                       {"test", {{"loss", 0.3}, {"images", 24}, {"metrics", {{"accuracy", {{"value", spec.test_accuracy}}}}}}}});
    write_text(run.checkpoint_file("best"), "a checkpoint");
  }
  return run;
}

}  // namespace cerebra::testing
