// Data-parallel training over c10d/Gloo with two processes on 127.0.0.1:
// identical parameters on every rank, the same training as one process at
// the same global batch, sharded evaluation equal to one process's, and a
// killed rank stopping the other with a message naming it, then resuming.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "run_support.h"

namespace cerebra::testing {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr int kTimeoutSeconds = 15;  // CEREBRA_DIST_TIMEOUT of these runs

// The tiny CNN run, without dropout unless asked (with it, the masks follow
// each image's place in the global batch: BatchDropout), evaluated with every
// metric the gathered outputs must reproduce, bootstrap intervals included.
// fp32: bf16 autocast rounds differently for other batch shapes.
std::string pipeline(int epochs, int count = 160, double dropout = 0) {
  std::string text = tiny_pipeline(
      epochs, "type = \"cnn\"\ninput_size = 32\ndropout = " + std::to_string(dropout), 32, count);
  text.replace(text.find("threads = 1\n"), 12, "threads = 1\nprecision = \"fp32\"\n");
  return text + R"(
[evaluation]
metrics = ["accuracy", "sensitivity", "specificity", "f1", "roc_auc"]
bootstrap = 50
)";
}

std::string environment() { return "CEREBRA_DIST_TIMEOUT=" + std::to_string(kTimeoutSeconds) + " "; }

// Model tensors of a checkpoint by name.
std::map<std::string, torch::Tensor> checkpoint_tensors(const fs::path& file) {
  torch::serialize::InputArchive archive, model;
  archive.load_from(file.string());
  archive.read("model", model);
  std::map<std::string, torch::Tensor> tensors;
  std::function<void(torch::serialize::InputArchive&, const std::string&)> collect =
      [&](torch::serialize::InputArchive& part, const std::string& prefix) {
        for (const auto& key : part.keys()) {
          torch::Tensor tensor;
          torch::serialize::InputArchive child;
          if (part.try_read(key, tensor)) tensors[prefix + key] = tensor;
          else if (part.try_read(key, child)) collect(child, prefix + key + ".");
        }
      };
  collect(model, "");
  return tensors;
}

// The largest difference between the last checkpoints' tensors of the runs
// under two output folders, and the tensor where it is.
std::pair<double, std::string> largest_difference(const std::string& output_a, const std::string& output_b) {
  const auto a = checkpoint_tensors(only_run(output_a) / "checkpoints" / "last.pt");
  const auto b = checkpoint_tensors(only_run(output_b) / "checkpoints" / "last.pt");
  EXPECT_EQ(a.size(), b.size());
  EXPECT_FALSE(a.empty());
  std::pair<double, std::string> largest{0.0, ""};
  for (const auto& [name, tensor] : a) {
    if (!b.count(name)) {
      ADD_FAILURE() << name << " missing";
      continue;
    }
    const double difference = (b.at(name) - tensor).abs().max().item<double>();
    if (difference >= largest.first) largest = {difference, name};
  }
  return largest;
}

// Trains `text` as two ranks (--nproc 2) into dir/two and as one process
// into dir/one.
void train_both(const TempDir& dir, const std::string& text, CommandResult& two, CommandResult& one) {
  write_text(dir.file("p.toml"), text);
  two = run_command(environment() + cli() + " run " + dir.file("p.toml") + " --nproc 2 --set run.output=" +
                    dir.file("two"));
  one = run_command(cli() + " run " + dir.file("p.toml") + " --set run.output=" + dir.file("one"));
}

// One run of two ranks (--nproc 2) and one of a single process, same
// pipeline and global batch, made once for the tests that compare them.
class Distributed : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::make_unique<TempDir>();
    train_both(*dir_, pipeline(2), two_, one_);
  }
  static void TearDownTestSuite() { dir_.reset(); }

  static std::unique_ptr<TempDir> dir_;
  static CommandResult two_, one_;
};

std::unique_ptr<TempDir> Distributed::dir_;
CommandResult Distributed::two_, Distributed::one_;

TEST_F(Distributed, EveryRankHoldsBitIdenticalParameters) {
  ASSERT_EQ(two_.exit_code, 0) << two_.output;
  // Each rank hashes its parameters and buffers after every epoch; rank 0
  // compares the hashes (an Error otherwise) and says so.
  EXPECT_NE(two_.output.find("parameters bit-identical on all 2 ranks after epoch 2"), std::string::npos)
      << two_.output;
  EXPECT_NE(two_.output.find("data-parallel: 2 ranks over Gloo"), std::string::npos) << two_.output;
  // Only rank 0 writes a run directory.
  EXPECT_EQ(run_folders(dir_->file("two")).size(), 1u);
}

TEST_F(Distributed, TwoRanksTrainAsOneProcessAtTheSameGlobalBatch) {
  ASSERT_EQ(two_.exit_code, 0) << two_.output;
  ASSERT_EQ(one_.exit_code, 0) << one_.output;
  const auto [difference, where] = largest_difference(dir_->file("two"), dir_->file("one"));
  EXPECT_LT(difference, 1e-4) << where;
  // Per-rank batch 8 on two ranks is the pipeline's batch of 16, as in one process.
  const auto lines_two = read_metrics(only_run(dir_->file("two")));
  const auto lines_one = read_metrics(only_run(dir_->file("one")));
  ASSERT_EQ(lines_two.size(), 2u);
  ASSERT_EQ(lines_one.size(), 2u);
  EXPECT_NEAR(lines_two[1]["train_loss"].get<double>(), lines_one[1]["train_loss"].get<double>(), 1e-4);
}

// Dropout's randomness controlled: each image's mask is drawn from the step's
// seed and its place in the global batch, so the ranks' halves get the masks
// one process draws for the whole batch.
TEST(DistributedDropout, TwoRanksWithDropoutTrainAsOneProcess) {
  TempDir dir, without;
  CommandResult two, one;
  train_both(dir, pipeline(2, 160, 0.5), two, one);
  ASSERT_EQ(two.exit_code, 0) << two.output;
  ASSERT_EQ(one.exit_code, 0) << one.output;
  const auto [difference, where] = largest_difference(dir.file("two"), dir.file("one"));
  // The dropout was real and the masks matched: the same run without dropout
  // ends far further away than the ranks are from one process (masks drawn
  // per rank would put them about that far apart).
  write_text(without.file("p.toml"), pipeline(2, 160, 0));
  const CommandResult plain =
      run_command(cli() + " run " + without.file("p.toml") + " --set run.output=" + without.file("one"));
  ASSERT_EQ(plain.exit_code, 0) << plain.output;
  const double no_dropout = largest_difference(dir.file("one"), without.file("one")).first;
  std::cout << "two ranks against one process: " << difference << " (" << where
            << "); with against without dropout: " << no_dropout << "\n";
  EXPECT_LT(difference, 1e-3) << where;
  EXPECT_GT(no_dropout, 50 * difference);
}

TEST_F(Distributed, ShardedEvaluationGivesTheSingleProcessMetrics) {
  ASSERT_EQ(two_.exit_code, 0) << two_.output;
  const fs::path run = only_run(dir_->file("two"));
  // The run's test figures came from two ranks' halves of the test split,
  // gathered; `cerebra eval` evaluates the same checkpoint in one process.
  const auto summary = read_json(run / "summary.json");
  const CommandResult eval = run_command(cli() + " eval " + run.string() + " --split test --json 2>/dev/null");
  ASSERT_EQ(eval.exit_code, 0) << eval.output;
  const auto single = nlohmann::json::parse(eval.output);
  EXPECT_EQ(summary["test"]["metrics"], single["metrics"]);
  EXPECT_EQ(summary["test"]["images"], single["images"]);
  EXPECT_EQ(summary["test"]["loss"].get<double>(), single["loss"].get<double>());
}

// A worker started with the torchrun variables, its output in `log`.
pid_t start_rank(const std::string& command, int rank, int port, const std::string& log) {
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  ::setenv("RANK", std::to_string(rank).c_str(), 1);
  ::setenv("LOCAL_RANK", std::to_string(rank).c_str(), 1);
  ::setenv("WORLD_SIZE", "2", 1);
  ::setenv("MASTER_ADDR", "127.0.0.1", 1);
  ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
  ::setenv("CEREBRA_DIST_TIMEOUT", std::to_string(kTimeoutSeconds).c_str(), 1);
  const std::string shell = "exec " + command + " >" + log + " 2>&1";
  ::execl("/bin/sh", "sh", "-c", shell.c_str(), static_cast<char*>(nullptr));
  std::_Exit(127);
}

// The port of a socket bound to port 0, closed again: free now, and unlike
// any a parallel test picks the same way.
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

// The exit status of `pid`, or nothing when it is still running at `deadline`.
std::optional<int> wait_until(pid_t pid, Clock::time_point deadline) {
  while (Clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return std::nullopt;
}

// The run directory under `runs` once it holds a checkpoint (an epoch is
// done, so the run is resumable), or an empty path after four minutes.
fs::path wait_for_checkpoint(const std::string& runs) {
  const auto give_up = Clock::now() + std::chrono::seconds(240);
  while (Clock::now() < give_up) {
    const fs::path run = fs::exists(runs) ? first_run(runs) : fs::path();
    if (!run.empty() && fs::exists(run / "checkpoints" / "last.pt")) return run;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return {};
}

// Two ranks of a 40-epoch run started by hand (torchrun's variables), their
// logs in dir/rank0.log and rank1.log, and the run once rank 0 has
// checkpointed an epoch (empty if it never did).
struct TwoRanks {
  pid_t rank0 = 0, rank1 = 0;
  fs::path run;
};

TwoRanks start_two_ranks(const TempDir& dir) {
  write_text(dir.file("p.toml"), pipeline(40, 320));
  const std::string command = cli() + " run " + dir.file("p.toml") + " --set run.output=" + dir.file("runs");
  const int port = free_port();
  TwoRanks ranks;
  ranks.rank0 = start_rank(command, 0, port, dir.file("rank0.log"));
  ranks.rank1 = start_rank(command, 1, port, dir.file("rank1.log"));
  ranks.run = wait_for_checkpoint(dir.file("runs"));
  return ranks;
}

TEST(DistributedFaults, AKilledRankStopsTheOtherWithItsNameAndTheRunResumes) {
  TempDir dir;
  // Kill rank 1 once rank 0 has checkpointed an epoch: the run is resumable.
  const auto [rank0, rank1, run] = start_two_ranks(dir);
  ASSERT_TRUE(!run.empty() && fs::exists(run / "checkpoints" / "last.pt")) << read_text(dir.file("rank0.log"));
  // The shell execs the command, so its pid is the worker's.
  ::kill(rank1, SIGKILL);
  const auto killed = Clock::now();
  const auto status = wait_until(rank0, killed + std::chrono::seconds(kTimeoutSeconds + 20));
  if (!status) ::kill(rank0, SIGKILL);
  ::waitpid(rank1, nullptr, 0);
  const std::string log = read_text(dir.file("rank0.log"));
  ASSERT_TRUE(status.has_value()) << "rank 0 still running " << kTimeoutSeconds + 20 << " s after rank 1 died\n" << log;
  EXPECT_NE(*status, 0) << log;
  EXPECT_NE(log.find("rank 1 stopped"), std::string::npos) << log;
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - killed).count(), kTimeoutSeconds + 10.0);

  // The run resumes, here in one process (another world size), to one epoch more.
  const auto done = read_metrics(run).size();
  ASSERT_GE(done, 1u);
  const CommandResult resumed = run_command(cli() + " run --resume " + run.string() +
                                            " --set training.epochs=" + std::to_string(done + 1));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_EQ(read_json(run / "summary.json")["epochs_completed"].get<int>(), static_cast<int>(done + 1));
}

// A rank that hangs (stopped, as by a debugger or a stuck driver: alive but
// silent) stops the other within the timeout too, named as the one without
// a heartbeat.
TEST(DistributedFaults, AHungRankStopsTheOtherWithItsName) {
  TempDir dir;
  const auto [rank0, rank1, run] = start_two_ranks(dir);
  ASSERT_TRUE(!run.empty()) << read_text(dir.file("rank0.log"));
  ::kill(rank1, SIGSTOP);
  const auto hung = Clock::now();
  const auto status = wait_until(rank0, hung + std::chrono::seconds(kTimeoutSeconds + 20));
  if (!status) ::kill(rank0, SIGKILL);
  ::kill(rank1, SIGKILL);
  ::kill(rank1, SIGCONT);
  ::waitpid(rank1, nullptr, 0);
  const std::string log = read_text(dir.file("rank0.log"));
  ASSERT_TRUE(status.has_value()) << "rank 0 still running " << kTimeoutSeconds + 20 << " s after rank 1 hung\n" << log;
  EXPECT_NE(*status, 0) << log;
  EXPECT_NE(log.find("rank 1 stopped (no heartbeat"), std::string::npos) << log;
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - hung).count(), kTimeoutSeconds + 10.0);
}

// A command in the background, its output in `log`.
pid_t start_command(const std::string& command, const std::string& log) {
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  const std::string shell = "exec " + command + " >" + log + " 2>&1";
  ::execl("/bin/sh", "sh", "-c", shell.c_str(), static_cast<char*>(nullptr));
  std::_Exit(127);
}

TEST(DistributedFaults, CtrlCOnTheLauncherStopsEveryWorkerAndTheRunResumes) {
  TempDir dir;
  write_text(dir.file("p.toml"), pipeline(40, 320));
  const pid_t launcher = start_command("env CEREBRA_DIST_TIMEOUT=" + std::to_string(kTimeoutSeconds) + " " + cli() +
                                           " run " + dir.file("p.toml") + " --nproc 2 --set run.output=" +
                                           dir.file("runs"),
                                       dir.file("launcher.log"));
  const fs::path run = wait_for_checkpoint(dir.file("runs"));
  ASSERT_TRUE(!run.empty() && fs::exists(run / "checkpoints" / "last.pt")) << read_text(dir.file("launcher.log"));
  ::kill(launcher, SIGINT);
  const auto status = wait_until(launcher, Clock::now() + std::chrono::seconds(kTimeoutSeconds + 20));
  if (!status) ::kill(launcher, SIGKILL);
  const std::string log = read_text(dir.file("launcher.log"));
  ASSERT_TRUE(status.has_value()) << log;
  EXPECT_EQ(*status, 130) << log;
  EXPECT_EQ(read_json(run / "summary.json")["status"], "interrupted") << log;
  const auto done = read_metrics(run).size();
  const CommandResult resumed = run_command("env CEREBRA_DIST_TIMEOUT=" + std::to_string(kTimeoutSeconds) + " " +
                                            cli() + " run --resume " + run.string() + " --nproc 2 --set training.epochs=" +
                                            std::to_string(done + 1));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_EQ(read_json(run / "summary.json")["epochs_completed"].get<int>(), static_cast<int>(done + 1));
}

TEST(DistributedInputs, BadLaunchSettingsAreNamed) {
  TempDir dir;
  write_text(dir.file("p.toml"), pipeline(1));
  const std::string run = cli() + " run " + dir.file("p.toml") + " --set run.output=" + dir.file("runs");
  const CommandResult zero = run_command(run + " --nproc 0");
  EXPECT_EQ(zero.exit_code, 2);
  EXPECT_NE(zero.output.find("--nproc 0"), std::string::npos) << zero.output;
  const CommandResult no_master = run_command("env WORLD_SIZE=2 RANK=1 MASTER_ADDR= " + run);
  EXPECT_NE(no_master.exit_code, 0);
  EXPECT_NE(no_master.output.find("MASTER_ADDR is not set"), std::string::npos) << no_master.output;
  const CommandResult bad_rank = run_command("env WORLD_SIZE=2 RANK=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=1 " + run);
  EXPECT_NE(bad_rank.output.find("RANK=2 is not an integer from 0 to 1"), std::string::npos) << bad_rank.output;
  const CommandResult odd = run_command("env CEREBRA_DIST_TIMEOUT=10 " + run + " --nproc 3");
  EXPECT_NE(odd.exit_code, 0);
  EXPECT_NE(odd.output.find("must divide evenly among its 3 ranks"), std::string::npos) << odd.output;
}

// [run] threads = 0 divides this host's cores among its ranks (LOCAL_WORLD_SIZE,
// which --nproc sets as torchrun does), so two ranks on two cores take one
// thread each instead of fighting over four.
TEST(DistributedInputs, RanksOnOneHostShareItsCores) {
  TempDir dir;
  write_text(dir.file("p.toml"), pipeline(1));
  const std::string run =
      cli() + " run " + dir.file("p.toml") + " --set run.output=" + dir.file("runs") + " --set run.threads=0";
  const CommandResult two = run_command(environment() + run + " --nproc 2");
  ASSERT_EQ(two.exit_code, 0) << two.output;
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  EXPECT_NE(two.output.find(fmt::format("with {} thread(s)", std::max(1, cores / 2))), std::string::npos)
      << two.output;
  const CommandResult bad = run_command("env LOCAL_WORLD_SIZE=two " + run);
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("LOCAL_WORLD_SIZE=two is not a number of processes"), std::string::npos) << bad.output;
}

}  // namespace
}  // namespace cerebra::testing
