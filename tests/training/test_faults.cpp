// Faults a run must survive (issue 16): a full disk, a crash between a
// checkpoint and its metrics line, kill -9 at random points, two processes on
// one run directory.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <thread>

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

// The metrics of a run without the fields that measure time.
std::vector<nlohmann::json> untimed_metrics(const fs::path& run) {
  auto lines = read_metrics(run);
  for (auto& line : lines) {
    for (const char* key : {"images_per_second", "train_seconds", "seconds"}) line.erase(key);
  }
  return lines;
}

// Runs `command` (whose last program replaces the shell: `env` and the CLI
// exec in turn) and sends it SIGKILL `seconds` after `ready()` turns true,
// unless it ended first.
void kill_after(const std::string& command, const std::function<bool()>& ready, double seconds) {
  const pid_t child = ::fork();
  if (child == 0) {
    ::execl("/bin/sh", "sh", "-c", ("exec " + command + " >/dev/null 2>&1").c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ASSERT_GT(child, 0);
  int status = 0;
  while (!ready()) {
    if (::waitpid(child, &status, WNOHANG) == child) return;  // it ended first
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  ::kill(child, SIGKILL);
  ::waitpid(child, &status, 0);
}

// True once a run under `output` has finished its first epoch (last.pt exists).
bool first_epoch_done(const fs::path& output) {
  std::error_code error;
  for (fs::directory_iterator it(output, error), end; !error && it != end; it.increment(error)) {
    if (fs::exists(it->path() / "checkpoints" / "last.pt", error)) return true;
  }
  return false;
}

bool holds_temporaries(const fs::path& run) {
  for (const auto& entry : fs::recursive_directory_iterator(run)) {
    if (entry.path().extension() == ".tmp") return true;
  }
  return false;
}


}  // namespace

TEST(Faults, AFullDiskEndsTheRunNamingFileCauseAndFreeSpaceAndResumeContinues) {
  TempDir dir;
  SmallDisk disk(dir.file("small"), "1200k");
  if (!disk.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here (needs root)";
  // The run store off the small disk: its pages would take the room this
  // disk's size leaves for summary.json (the store's own full disk is a warning).
  cerebra::testing::ScopedEnv store("CEREBRA_STORE", dir.file("store.db"));
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
  const fs::path run = cerebra::testing::train_tiny_run(dir, 2);
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
  const fs::path run = cerebra::testing::train_tiny_run(dir, 1);
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

TEST(Faults, AResumeRemovesTheTemporariesOfAWriterKilledMidWrite) {
  TempDir dir;
  const fs::path run = cerebra::testing::train_tiny_run(dir, 1);
  // What a kill -9 inside write_file_atomically leaves: NAME.PID.tmp.
  write_text((run / "checkpoints" / "last.pt.4242.tmp").string(), "half a checkpoint");
  write_text((run / "summary.json.4242.tmp").string(), "{");
  write_text((run / "notes.tmp").string(), "not ours");  // no pid: someone else's file, kept
  ASSERT_EQ(run_command(cli() + " run --resume " + run.string() + " --set training.epochs=2").exit_code, 0);
  EXPECT_FALSE(fs::exists(run / "checkpoints" / "last.pt.4242.tmp"));
  EXPECT_FALSE(fs::exists(run / "summary.json.4242.tmp"));
  EXPECT_TRUE(fs::exists(run / "notes.tmp"));
}

// kill -9 of a run and of its resume at seeded random points (inside an epoch,
// between epochs, sometimes inside a checkpoint write), then a resume: the
// metrics are the uninterrupted run's, line for line, each epoch once.
TEST(Faults, AKill9AnywhereThenResumeGivesTheUninterruptedMetrics) {
  TempDir dir;
  write_text(dir.file("p.toml"), cerebra::testing::tiny_pipeline(4));
  // 1,280 images: epochs of a few tenths of a second, long enough to be hit.
  const std::string run_command_line = cli() + " run " + dir.file("p.toml") + " --set dataset.count=1280 --set run.output=";
  const auto start = std::chrono::steady_clock::now();
  ASSERT_EQ(run_command(run_command_line + dir.file("reference")).exit_code, 0);
  const double duration = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto expected = untimed_metrics(only_run(dir.file("reference")));
  ASSERT_EQ(expected.size(), 4u);
  const double epoch = read_metrics(only_run(dir.file("reference")))[1]["seconds"].get<double>();

  std::mt19937 random(16);  // the same kill points on every run of the test
  std::uniform_real_distribution<double> in_training(0.0, 2.5 * epoch), any_time(0.0, duration);
  int resumed_trials = 0;
  for (int trial = 0; trial < 3; ++trial) {
    const fs::path output = dir.path() / ("killed" + std::to_string(trial));
    // After epoch 1's checkpoint, within the next two and a half epochs.
    kill_after(run_command_line + output.string(), [&] { return first_epoch_done(output); }, in_training(random));
    const bool started = fs::exists(output) && !fs::is_empty(output);
    const fs::path run = started ? only_run(output) : fs::path();
    if (!started || !fs::exists(run / "checkpoints" / "last.pt")) {
      // Killed before the first epoch ended: nothing to resume, and resume says so.
      if (started) {
        auto refused = run_command(cli() + " run --resume " + run.string());
        EXPECT_EQ(refused.exit_code, 1) << refused.output;
        EXPECT_NE(refused.output.find("the first epoch never finished"), std::string::npos) << refused.output;
      }
      continue;
    }
    kill_after(cli() + " run --resume " + run.string(), [] { return true; }, any_time(random));
    auto resumed = run_command(cli() + " run --resume " + run.string());
    ASSERT_EQ(resumed.exit_code, 0) << "trial " << trial << ": " << resumed.output;
    EXPECT_EQ(untimed_metrics(run), expected) << "trial " << trial;
    EXPECT_EQ(epochs_of(run), (std::vector<int>{1, 2, 3, 4})) << "trial " << trial;
    EXPECT_FALSE(holds_temporaries(run)) << "trial " << trial;
    EXPECT_EQ(read_json(run / "summary.json")["status"], "completed") << "trial " << trial;
    ++resumed_trials;
  }
  EXPECT_GE(resumed_trials, 1) << "every kill came before the first checkpoint";
}
