// The run store against real run directories and a real store file: what
// training records, several processes writing at once, index and gc, tags,
// and the errors for a store that cannot be used.
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include <gtest/gtest.h>

#include "cerebra/error.h"
#include "cerebra/files.h"
#include "cerebra/run_store.h"
#include "store_test_support.h"
#include "test_support.h"

using namespace cerebra;
using cerebra::testing::contains;
using cerebra::testing::error_message_of;
using cerebra::testing::sqlite3_query;
using cerebra::testing::RunSpec;
using cerebra::testing::TempDir;
using cerebra::testing::write_run;
using cerebra::testing::write_text;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// What a run's trainer does through the store callback: start, epochs, end.
void record_like_training(const std::string& store_file, const RunDirectory& run, int epochs) {
  RunStore(store_file).record_start(run, "test-version");
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    RunStore(store_file).record_epoch(run, {{"epoch", epoch}, {"train_loss", 1.0 / epoch}, {"val_accuracy", 0.7}});
  }
  RunStore(store_file).record_end(run, json::parse(read_file(run.summary_file())));
}

}  // namespace

TEST(RunStore, RecordsARunAsTrainingGoesAndTheSqliteClientReadsIt) {
  TempDir dir;
  const std::string file = dir.file("store/runs.db");
  const RunDirectory run = write_run(dir.path() / "runs", "tiny-1", RunSpec{"cnn", 0.001, 2, 0.93, false});
  RunStore(file).record_start(run, "git v1.2-3-gabc");
  EXPECT_EQ(sqlite3_query(file, "SELECT status, epochs_completed, code_version FROM runs"), "running|2|git v1.2-3-gabc");
  RunStore(file).record_epoch(run, {{"epoch", 3}, {"train_loss", 0.25}, {"val_accuracy", 0.75}});
  EXPECT_EQ(sqlite3_query(file, "SELECT epochs_completed FROM runs"), "3");
  EXPECT_EQ(sqlite3_query(file, "SELECT epoch, value FROM epoch_metrics WHERE key = 'train_loss' ORDER BY epoch"),
            "1|1.0\n2|0.5\n3|0.25");
  RunStore(file).record_end(run, {{"status", "early_stopped"}, {"message", "no improvement"}, {"epochs_completed", 3},
                                  {"best_epoch", 2}, {"model", "cnn"}, {"dataset", "synthetic"},
                                  {"test", {{"loss", 0.2}, {"metrics", {{"accuracy", {{"value", 0.93}}}, {"f1", 0.9}}}}}});
  EXPECT_EQ(sqlite3_query(file, "SELECT status, message, best_epoch, model, dataset FROM runs"),
            "early_stopped|no improvement|2|cnn|synthetic");
  EXPECT_EQ(sqlite3_query(file, "SELECT key, value FROM metrics ORDER BY key"), "test.accuracy|0.93\ntest.f1|0.9\ntest.loss|0.2");
  EXPECT_EQ(sqlite3_query(file, "SELECT value FROM params WHERE key IN ('model', 'optimizer.learning_rate', "
                                "'preprocess.1', 'preprocess.1.size', 'training.epochs') ORDER BY key"),
            "cnn\n0.001\nresize\n32\n2");
  EXPECT_EQ(sqlite3_query(file, "PRAGMA journal_mode"), "wal");

  const StoredRun stored = RunStore(file).find("tiny-1", true);
  EXPECT_EQ(stored.path, fs::weakly_canonical(run.path()).string());
  EXPECT_EQ(stored.parameters.at("model"), "cnn");
  EXPECT_EQ(stored.parameters.at("training.epochs"), 2);
  EXPECT_DOUBLE_EQ(stored.metrics.at("test.accuracy"), 0.93);
  ASSERT_EQ(stored.epochs.size(), 3u);
  EXPECT_EQ(stored.epochs[2]["val_accuracy"], 0.75);
  // By folder and by id too.
  EXPECT_EQ(RunStore(file).find(run.path()).id, stored.id);
  EXPECT_EQ(RunStore(file).find(std::to_string(stored.id)).name, "tiny-1");
}

TEST(RunStore, AResumedRunKeepsOnlyTheEpochsItsMetricsFileKeeps) {
  TempDir dir;
  const std::string file = dir.file("store.db");
  const RunDirectory run = write_run(dir.path() / "runs", "resumed", RunSpec{"cnn", 0.001, 2, 0.9, false});
  RunStore(file).record_start(run, "v");
  RunStore(file).record_epoch(run, {{"epoch", 3}, {"train_loss", 0.3}});  // lost by a crash before metrics.jsonl
  RunStore(file).record_start(run, "v");  // the resume: metrics.jsonl holds epochs 1..2
  EXPECT_EQ(sqlite3_query(file, "SELECT MAX(epoch), COUNT(DISTINCT epoch) FROM epoch_metrics"), "2|2");
  EXPECT_EQ(sqlite3_query(file, "SELECT COUNT(*) FROM runs"), "1");
}

TEST(RunStore, SeveralProcessesWritingAtOnceLoseNothing) {
  TempDir dir;
  const std::string file = dir.file("shared.db");
  constexpr int kProcesses = 6, kRunsEach = 8, kEpochs = 4;
  // The runs' folders first, so the children only write the store.
  for (int p = 0; p < kProcesses; ++p) {
    for (int r = 0; r < kRunsEach; ++r) {
      write_run(dir.path() / "runs", "p" + std::to_string(p) + "-r" + std::to_string(r), RunSpec{"cnn", 0.001, kEpochs});
    }
  }
  std::vector<pid_t> children;
  for (int p = 0; p < kProcesses; ++p) {
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      int code = 0;
      try {
        for (int r = 0; r < kRunsEach; ++r) {
          const auto run = RunDirectory::open((dir.path() / "runs" / ("p" + std::to_string(p) + "-r" + std::to_string(r))).string());
          record_like_training(file, run, kEpochs);
          RunStore(file).tag(run.path(), {"from-" + std::to_string(p)});
        }
      } catch (const std::exception& error) {
        std::cerr << "writer " << p << ": " << error.what() << "\n";
        code = 1;
      }
      _exit(code);
    }
    children.push_back(child);
  }
  for (pid_t child : children) {
    int status = 0;
    waitpid(child, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "a writer failed (its message is above)";
  }
  const int runs = kProcesses * kRunsEach;
  EXPECT_EQ(sqlite3_query(file, "SELECT COUNT(*) FROM runs WHERE status = 'completed'"), std::to_string(runs));
  EXPECT_EQ(sqlite3_query(file, "SELECT COUNT(*) FROM epoch_metrics WHERE key = 'train_loss'"), std::to_string(runs * kEpochs));
  EXPECT_EQ(sqlite3_query(file, "SELECT COUNT(*) FROM tags"), std::to_string(runs));
  EXPECT_EQ(sqlite3_query(file, "SELECT COUNT(*) FROM metrics WHERE key = 'test.accuracy'"), std::to_string(runs));
  EXPECT_EQ(sqlite3_query(file, "PRAGMA integrity_check"), "ok");
}

TEST(RunStore, SeveralThreadsWritingAtOnceLoseNothing) {
  TempDir dir;
  const std::string file = dir.file("threads.db");
  constexpr int kThreads = 4, kRunsEach = 5;
  std::vector<RunDirectory> runs;
  for (int i = 0; i < kThreads * kRunsEach; ++i) runs.push_back(write_run(dir.path() / "runs", "t" + std::to_string(i)));
  std::vector<std::string> failures(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      try {
        for (int r = 0; r < kRunsEach; ++r) record_like_training(file, runs[static_cast<std::size_t>(t * kRunsEach + r)], 3);
      } catch (const std::exception& error) {
        failures[static_cast<std::size_t>(t)] = error.what();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (const auto& failure : failures) EXPECT_EQ(failure, "");
  EXPECT_EQ(RunStore(file).list({}).size(), static_cast<std::size_t>(kThreads * kRunsEach));
}

TEST(RunStore, IndexRebuildsFromFoldersAndGcDropsTheGoneOnes) {
  TempDir dir;
  const std::string file = dir.file("store.db");
  const fs::path output = dir.path() / "runs";
  write_run(output, "a", RunSpec{"cnn", 0.001, 2, 0.91});
  write_run(output, "b", RunSpec{"resnet50", 0.001, 3, 0.95});
  write_run(output, "unfinished", RunSpec{"cnn", 0.01, 1, 0, false});
  write_run(output / "nested", "c", RunSpec{"vgg16"});
  write_text((output / "broken" / "pipeline.toml").string(), "[model\ntype = ");

  RunStore store(file);
  const IndexResult first = store.index_folder(output.string());
  EXPECT_EQ(first.indexed.size(), 4u);
  ASSERT_EQ(first.problems.size(), 1u);
  EXPECT_TRUE(contains(first.problems[0], (output / "broken" / "pipeline.toml").string())) << first.problems[0];
  EXPECT_TRUE(contains(first.problems[0], "not valid TOML")) << first.problems[0];
  EXPECT_EQ(store.find("unfinished").status, "unfinished");
  {
    // A process training in it holds its lock: the run is running, not abandoned.
    const RunDirectory unfinished = RunDirectory::open((output / "unfinished").string());
    const RunLock lock = unfinished.lock();
    store.index_run(unfinished);
    EXPECT_EQ(store.find("unfinished").status, "running");
  }
  store.index_run(RunDirectory::open((output / "unfinished").string()));
  EXPECT_EQ(store.find("unfinished").status, "unfinished");
  EXPECT_EQ(store.find("b").model, "resnet50");
  EXPECT_EQ(store.find("c").parameters.at("model"), "vgg16");

  // Indexing again changes no identity and keeps the tags.
  store.tag("a", {"baseline", "paper"});
  const auto id = store.find("a").id;
  EXPECT_EQ(store.index_folder(output.string()).indexed.size(), 4u);
  EXPECT_EQ(store.find("a").id, id);
  EXPECT_EQ(store.find("a").tags, (std::vector<std::string>{"baseline", "paper"}));
  EXPECT_EQ(store.list({}).size(), 4u);

  // A folder deleted: gc drops its rows (tags included) and names it.
  fs::remove_all(output / "a");
  fs::remove_all(output / "nested");
  const auto dropped = store.collect_garbage();
  ASSERT_EQ(dropped.size(), 2u);
  EXPECT_EQ(dropped[0], fs::weakly_canonical(output / "a").string());
  EXPECT_EQ(dropped[1], fs::weakly_canonical(output / "nested" / "c").string());
  EXPECT_EQ(store.list({}).size(), 2u);
  EXPECT_EQ(sqlite3_query(file, "SELECT COUNT(*) FROM tags"), "0");
  EXPECT_EQ(sqlite3_query(file, "SELECT COUNT(*) FROM params WHERE run_id NOT IN (SELECT id FROM runs)"), "0");
  EXPECT_TRUE(store.collect_garbage().empty());

  EXPECT_TRUE(contains(error_message_of([&] { store.index_folder(dir.file("nowhere")); }), "nowhere: no such folder"));
}

TEST(RunStore, TagsAddRemoveAndFilter) {
  TempDir dir;
  RunStore store(dir.file("store.db"));
  write_run(dir.path() / "runs", "one");
  write_run(dir.path() / "runs", "two");
  store.index_folder(dir.file("runs"));
  store.tag("one", {"best", "paper"});
  store.tag("one", {"best"});  // twice is once
  store.tag("two", {"paper"});
  EXPECT_EQ(store.find("one").tags, (std::vector<std::string>{"best", "paper"}));
  EXPECT_EQ(store.list(parse_where("tag=best")).size(), 1u);
  EXPECT_EQ(store.list(parse_where("tag=paper")).size(), 2u);
  EXPECT_EQ(store.list(parse_where("tag!=best")).at(0).name, "two");
  store.untag("one", {"best"});
  EXPECT_EQ(store.find("one").tags, (std::vector<std::string>{"paper"}));
  EXPECT_TRUE(store.list(parse_where("tag=best")).empty());
  const std::string missing = error_message_of([&] { store.tag("on", {"x"}); });
  EXPECT_TRUE(contains(missing, "'on': no run with this folder, name or id")) << missing;
  EXPECT_TRUE(contains(missing, "similar names: one")) << missing;
}

TEST(RunStore, AFileThatIsNoStoreIsAnErrorNamingIt) {
  TempDir dir;
  const std::string text_file = dir.file("notes.db");
  write_text(text_file, std::string(4096, 'x'));
  std::string message = error_message_of([&] { RunStore store(text_file); });
  EXPECT_TRUE(contains(message, text_file + ": not an SQLite database")) << message;

  message = error_message_of([&] { RunStore store(dir.file("missing.db"), false); });
  EXPECT_TRUE(contains(message, dir.file("missing.db") + ": no run store here")) << message;
  EXPECT_FALSE(fs::exists(dir.file("missing.db")));

  message = error_message_of([&] { RunStore store(dir.path().string()); });
  EXPECT_TRUE(contains(message, "a folder, not a run store file")) << message;

  // A store whose pages were overwritten: corrupt, named, and how to rebuild it.
  const std::string damaged = dir.file("damaged.db");
  {
    RunStore store(damaged);
    for (int i = 0; i < 30; ++i) write_run(dir.path() / "runs", "r" + std::to_string(i));
    store.index_folder(dir.file("runs"));
  }
  {
    std::fstream bytes(damaged, std::ios::in | std::ios::out | std::ios::binary);
    bytes.seekp(4096 + 100);
    const std::string garbage(8192, '\x7f');
    bytes.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  }
  message = error_message_of([&] { RunStore(damaged, false).list({}); });
  EXPECT_TRUE(contains(message, damaged + ": ")) << message;
  EXPECT_TRUE(contains(message, "corrupt") || contains(message, "malformed")) << message;
}

TEST(RunStore, ALockHeldPastTheBusyTimeoutIsAnErrorNamingTheStore) {
  TempDir dir;
  const std::string file = dir.file("store.db");
  const RunDirectory run = write_run(dir.path() / "runs", "waiting");
  RunStore(file).index_run(run);
  sqlite3* holder = nullptr;
  ASSERT_EQ(sqlite3_open(file.c_str(), &holder), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(holder, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  const std::string message = error_message_of([&] { RunStore(file, false, 300).tag("waiting", {"x"}); });
  EXPECT_TRUE(contains(message, file + ": ")) << message;
  EXPECT_TRUE(contains(message, "locked by another process past the busy timeout")) << message;
  // Readers go on meanwhile (WAL).
  EXPECT_EQ(RunStore(file, false, 300).list({}).size(), 1u);
  sqlite3_exec(holder, "COMMIT", nullptr, nullptr, nullptr);
  sqlite3_close(holder);
  RunStore(file, false, 300).tag("waiting", {"x"});
  EXPECT_EQ(RunStore(file).find("waiting").tags, std::vector<std::string>{"x"});
}

TEST(RunStore, DefaultLocationIsBesideTheRunsUnlessTheEnvironmentSaysOtherwise) {
  {
    cerebra::testing::ScopedEnv unset("CEREBRA_STORE", std::nullopt);
    EXPECT_EQ(default_store_path("out"), "out/.cerebra/store.db");
    EXPECT_EQ(default_store_path(), "runs/.cerebra/store.db");
    EXPECT_EQ(store_path_for_run("/data/runs/tiny-1"), "/data/runs/.cerebra/store.db");
  }
  cerebra::testing::ScopedEnv set("CEREBRA_STORE", std::string("/tmp/elsewhere.db"));
  EXPECT_EQ(default_store_path("out"), "/tmp/elsewhere.db");
  EXPECT_EQ(store_path_for_run("/data/runs/tiny-1"), "/tmp/elsewhere.db");
}

TEST(RunStore, CodeVersionSaysWhereItCameFrom) {
  const std::string version = code_version();
  EXPECT_TRUE(version.rfind("git ", 0) == 0 || version.rfind("cerebra ", 0) == 0) << version;
  EXPECT_GT(version.size(), 5u);
}
