// Helpers for tests that train tiny runs through the `cerebra` command.
#pragma once

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cerebra/host.h"
#include "test_support.h"

namespace cerebra::testing {

// A run that trains in seconds: 160 synthetic 32x32 images, the study's CNN
// built for 32x32 inputs, one compute thread. `model` (the [model] table's
// lines), `size` (image side) and `count` (images) make other tiny runs.
inline std::string tiny_pipeline(int epochs, const std::string& model = "type = \"cnn\"\ninput_size = 32",
                                 int size = 32, int count = 160) {
  return R"([run]
name = "tiny"
seed = 7
threads = 1

[dataset]
type = "synthetic"
classes = 2
count = )" + std::to_string(count) + R"(
image_size = )" + std::to_string(size) + R"(

[[preprocess]]
type = "resize"
size = )" + std::to_string(size) + R"(

[[augment]]
type = "random_flip"

[model]
)" + model + R"(

[training]
epochs = )" + std::to_string(epochs) + R"(
batch_size = 16
)";
}

// The CLI of this build, blind to any plugin path of the caller's environment.
inline std::string cli() { return std::string("env -u CEREBRA_PLUGIN_PATH ") + CEREBRA_CLI; }

inline std::string read_text(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

inline nlohmann::json read_json(const std::filesystem::path& file) {
  return nlohmann::json::parse(read_text(file));
}

// One JSON object per line of a JSON-lines file.
inline std::vector<nlohmann::json> read_jsonl(const std::filesystem::path& file) {
  std::vector<nlohmann::json> lines;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

// One JSON object per line of a run's metrics.jsonl.
inline std::vector<nlohmann::json> read_metrics(const std::filesystem::path& run) {
  return read_jsonl(run / "metrics.jsonl");
}

// The run directories of an output folder, sorted; hidden entries (the run
// store's .cerebra/) are not runs.
inline std::vector<std::filesystem::path> run_folders(const std::filesystem::path& output) {
  std::vector<std::filesystem::path> runs;
  for (const auto& entry : std::filesystem::directory_iterator(output)) {
    if (entry.path().filename().string().rfind('.', 0) != 0) runs.push_back(entry.path());
  }
  std::sort(runs.begin(), runs.end());
  return runs;
}

// The first run directory of an output folder (empty when there is none).
inline std::filesystem::path first_run(const std::filesystem::path& output) {
  const auto runs = run_folders(output);
  return runs.empty() ? std::filesystem::path() : runs.front();
}

// The one run directory a test's output folder holds.
inline std::filesystem::path only_run(const std::filesystem::path& output) {
  const std::vector<std::filesystem::path> runs = run_folders(output);
  EXPECT_EQ(runs.size(), 1u) << output;
  return runs.empty() ? std::filesystem::path() : runs[0];
}

// Trains `pipeline` (default: tiny_pipeline(epochs)) into `dir`/runs through
// the CLI (the pipeline in `dir`/p.toml), with `options` (e.g. --set ...) on
// the command line, and returns the run directory.
inline std::filesystem::path train_tiny_run(const TempDir& dir, int epochs, const std::string& options = "",
                                            const std::string& pipeline = "") {
  write_text(dir.file("p.toml"), pipeline.empty() ? tiny_pipeline(epochs) : pipeline);
  const CommandResult result =
      run_command(cli() + " run " + dir.file("p.toml") + " --set run.output=" + dir.file("runs") + " " + options);
  EXPECT_EQ(result.exit_code, 0) << result.output;
  return only_run(dir.file("runs"));
}

// A host with this build's plugins only, shared by a test program.
inline Host& build_tree_host() {
  static Host instance([] {
    HostOptions options;
    options.plugin_paths = {CEREBRA_PLUGIN_DIR};
    options.use_environment = false;
    options.use_default_path = false;
    return options;
  }());
  return instance;
}

}  // namespace cerebra::testing
