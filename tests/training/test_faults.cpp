// Faults a run must survive (issue 16): a full disk, a crash between a
// checkpoint and its metrics line, two processes on one run directory.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "run_support.h"
#include "test_support.h"

namespace fs = std::filesystem;
using cerebra::testing::cli;
using cerebra::testing::only_run;
using cerebra::testing::read_json;
using cerebra::testing::read_metrics;
using cerebra::testing::read_text;
using cerebra::testing::run_command;
using cerebra::testing::TempDir;
using cerebra::testing::write_text;

namespace {

std::vector<int> epochs_of(const fs::path& run) {
  std::vector<int> epochs;
  for (const auto& line : read_metrics(run)) epochs.push_back(line["epoch"].get<int>());
  return epochs;
}

void set_epochs(const fs::path& run, int from, int to) {
  std::string text = read_text(run / "pipeline.toml");
  const std::string old = "epochs = " + std::to_string(from) + "\n";
  text.replace(text.find(old), old.size(), "epochs = " + std::to_string(to) + "\n");
  write_text((run / "pipeline.toml").string(), text);
}

// A small tmpfs, when this process may mount one (root in CI); unmounted on exit.
class SmallDisk {
 public:
  SmallDisk(const std::string& folder, const std::string& size) : folder_(folder) {
    fs::create_directories(folder);
    mounted_ = run_command("mount -t tmpfs -o size=" + size + " tmpfs " + folder + " 2>&1").exit_code == 0;
  }
  ~SmallDisk() {
    if (mounted_) run_command("umount " + folder_);
  }
  bool mounted() const { return mounted_; }

 private:
  std::string folder_;
  bool mounted_ = false;
};

}  // namespace

TEST(Faults, AFullDiskEndsTheRunNamingFileCauseAndFreeSpaceAndResumeContinues) {
  TempDir dir;
  SmallDisk disk(dir.file("small"), "1200k");
  if (!disk.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here (needs root)";
  write_text(dir.file("p.toml"), cerebra::testing::tiny_pipeline(4));
  auto result = run_command(cli() + " run " + dir.file("p.toml") + " --set run.output=" + dir.file("small"));
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_NE(result.output.find("No space left on device"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("MB free there"), std::string::npos) << result.output;
  EXPECT_EQ(result.output.find("terminate called"), std::string::npos) << result.output;
  const fs::path run = only_run(dir.file("small"));
  EXPECT_EQ(read_json(run / "summary.json")["status"], "failed");
  for (const auto& entry : fs::recursive_directory_iterator(run)) {
    EXPECT_NE(entry.path().extension(), ".tmp") << entry.path() << " left behind";
  }
  // Every metrics line has its checkpoint: epochs 1..E, E the checkpoint's.
  const auto written = epochs_of(run);
  for (std::size_t i = 0; i < written.size(); ++i) EXPECT_EQ(written[i], static_cast<int>(i) + 1);

  // On a disk with room, the run resumes and ends with every epoch once.
  if (!fs::exists(run / "checkpoints" / "last.pt")) GTEST_SKIP() << "no epoch fitted on the small disk";
  const fs::path moved = dir.file("roomy");
  fs::copy(run, moved, fs::copy_options::recursive);
  auto resumed = run_command(cli() + " run --resume " + moved.string());
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_EQ(epochs_of(moved), (std::vector<int>{1, 2, 3, 4}));
}

TEST(Faults, ResumeWritesEachEpochOnceWhateverACrashLeftInTheMetrics) {
  TempDir dir;
  write_text(dir.file("p.toml"), cerebra::testing::tiny_pipeline(2));
  ASSERT_EQ(run_command(cli() + " run " + dir.file("p.toml") + " --set run.output=" + dir.file("runs")).exit_code, 0);
  const fs::path run = only_run(dir.file("runs"));
  const auto lines = read_metrics(run);
  ASSERT_EQ(lines.size(), 2u);
  // A crash after the checkpoint of epoch 2 but before its metrics line...
  write_text((run / "metrics.jsonl").string(), lines[0].dump() + "\n");
  set_epochs(run, 2, 3);
  auto resumed = run_command(cli() + " run --resume " + run.string());
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  auto after = read_metrics(run);
  ASSERT_EQ(epochs_of(run), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(after[1], lines[1]);  // restored from the checkpoint, as it was

  // ...and a line from an epoch whose checkpoint never landed.
  nlohmann::json stray = after[2];
  stray["epoch"] = 4;
  std::ofstream(run / "metrics.jsonl", std::ios::app) << stray.dump() << "\n";
  set_epochs(run, 3, 4);
  ASSERT_EQ(run_command(cli() + " run --resume " + run.string()).exit_code, 0);
  EXPECT_EQ(epochs_of(run), (std::vector<int>{1, 2, 3, 4}));
}

TEST(Faults, ASecondProcessOnARunDirectoryIsToldWhoHoldsIt) {
  TempDir dir;
  write_text(dir.file("p.toml"), cerebra::testing::tiny_pipeline(1));
  ASSERT_EQ(run_command(cli() + " run " + dir.file("p.toml") + " --set run.output=" + dir.file("runs")).exit_code, 0);
  const fs::path run = only_run(dir.file("runs"));
  set_epochs(run, 1, 2);
  {
    // This test process holds the lock, as a running `cerebra run` would.
    int descriptor = ::open((run / ".lock").c_str(), O_RDWR | O_CREAT, 0644);
    ASSERT_GE(descriptor, 0);
    ASSERT_EQ(::flock(descriptor, LOCK_EX | LOCK_NB), 0);
    const std::string pid = std::to_string(::getpid()) + "\n";
    ASSERT_EQ(::ftruncate(descriptor, 0), 0);
    ASSERT_EQ(::pwrite(descriptor, pid.data(), pid.size(), 0), static_cast<ssize_t>(pid.size()));
    auto refused = run_command(cli() + " run --resume " + run.string());
    EXPECT_EQ(refused.exit_code, 1) << refused.output;
    EXPECT_NE(refused.output.find(run.string() + ": in use by another cerebra process (pid " + std::to_string(::getpid()) + ")"),
              std::string::npos)
        << refused.output;
    ::close(descriptor);
  }
  EXPECT_EQ(epochs_of(run), (std::vector<int>{1}));  // nothing written by the refused process
  auto resumed = run_command(cli() + " run --resume " + run.string());
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_EQ(epochs_of(run), (std::vector<int>{1, 2}));
}

TEST(Faults, AMissingPluginFolderIsReportedAndFatalUnderStrict) {
  TempDir dir;
  const std::string missing = dir.file("no-such-plugins");
  auto strict = run_command(cli() + " list --strict --plugin-path " + missing + " 2>&1");
  EXPECT_EQ(strict.exit_code, 3) << strict.output;
  EXPECT_NE(strict.output.find(missing + ": plugin folder cannot be read: no such folder"), std::string::npos)
      << strict.output;
  auto lenient = run_command(cli() + " list --plugin-path " + missing + " 2>&1");
  EXPECT_EQ(lenient.exit_code, 0) << lenient.output;
  EXPECT_NE(lenient.output.find("(folder skipped)"), std::string::npos) << lenient.output;
  auto listed = run_command(cli() + " list plugins --json --plugin-path " + missing);
  ASSERT_EQ(listed.exit_code, 0) << listed.output;
  bool found = false;
  for (const auto& record : nlohmann::json::parse(listed.output)) {
    if (record["file"] == missing) found = record["status"] == "plugin folder cannot be read";
  }
  EXPECT_TRUE(found) << listed.output;
}
