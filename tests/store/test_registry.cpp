// The registry of trained models: versions, stages with history, and
// models:/ references, against real run directories and a real store.
#include <filesystem>

#include <gtest/gtest.h>

#include "cerebra/error.h"
#include "cerebra/run_store.h"
#include "store_test_support.h"
#include "test_support.h"

using namespace cerebra;
using cerebra::testing::contains;
using cerebra::testing::error_message_of;
using cerebra::testing::RunSpec;
using cerebra::testing::TempDir;
using cerebra::testing::write_run;
namespace fs = std::filesystem;

namespace {

std::string canonical(const std::string& path) { return fs::weakly_canonical(path).string(); }

}  // namespace

TEST(ModelRegistry, VersionsCountUpPerName) {
  TempDir dir;
  RunStore store(dir.file("store.db"));
  const auto a = write_run(dir.path() / "runs", "a");
  const auto b = write_run(dir.path() / "runs", "b");
  // A folder the store does not know yet is indexed on the way.
  const ModelVersion first = store.register_model(a.path(), "br35h-detector");
  EXPECT_EQ(first.version, 1);
  EXPECT_EQ(first.stage, "none");
  EXPECT_EQ(first.run_path, canonical(a.path()));
  EXPECT_FALSE(first.registered_by.empty());
  EXPECT_EQ(store.register_model(b.path(), "br35h-detector").version, 2);
  EXPECT_EQ(store.register_model("a", "br35h-detector").version, 3);  // the same run again is a new version
  EXPECT_EQ(store.register_model("b", "four-class").version, 1);
  const auto versions = store.models("br35h-detector");
  ASSERT_EQ(versions.size(), 3u);
  EXPECT_EQ(versions[1].run_path, canonical(b.path()));
  EXPECT_EQ(store.models().size(), 4u);

  EXPECT_TRUE(contains(error_message_of([&] { store.register_model("a", "bad name"); }), "'bad name' is not a model name"));
  EXPECT_TRUE(contains(error_message_of([&] { store.register_model("a", "x/1"); }), "is not a model name"));
  const auto unfinished = write_run(dir.path() / "runs", "unfinished", RunSpec{"cnn", 0.001, 1, 0, false});
  EXPECT_TRUE(contains(error_message_of([&] { store.register_model(unfinished.path(), "x"); }), "no checkpoints/best.pt"));
  EXPECT_TRUE(contains(error_message_of([&] { store.register_model("nobody", "x"); }), "'nobody': no run"));
}

TEST(ModelRegistry, StagesMoveWithHistoryAndReferencesResolve) {
  TempDir dir;
  RunStore store(dir.file("store.db"));
  const auto a = write_run(dir.path() / "runs", "a");
  const auto b = write_run(dir.path() / "runs", "b");
  store.register_model(a.path(), "det");
  store.register_model(b.path(), "det");

  StageChange change = store.set_stage("det", 1, "production");
  EXPECT_EQ(change.from_stage, "none");
  EXPECT_EQ(change.to_stage, "production");
  store.set_stage("det", 2, "staging");
  EXPECT_EQ(store.resolve_model("models:/det/production"), canonical(a.path()));
  EXPECT_EQ(store.resolve_model("models:/det/staging"), canonical(b.path()));
  EXPECT_EQ(store.resolve_model("models:/det/2"), canonical(b.path()));
  // Two versions in production: the newest is the one named by the stage.
  store.set_stage("det", 2, "production");
  EXPECT_EQ(store.resolve_model("models:/det/production"), canonical(b.path()));
  store.set_stage("det", 1, "archived");
  change = store.set_stage("det", 1, "archived");  // no change, no history line
  EXPECT_EQ(change.from_stage, "archived");

  const auto history = store.stage_history("det");
  ASSERT_EQ(history.size(), 4u);
  EXPECT_EQ(history[0].version, 1);
  EXPECT_EQ(history[0].from_stage, "none");
  EXPECT_EQ(history[0].to_stage, "production");
  EXPECT_EQ(history[2].version, 2);
  EXPECT_EQ(history[2].from_stage, "staging");
  EXPECT_EQ(history[2].to_stage, "production");
  EXPECT_EQ(history[3].from_stage, "production");
  EXPECT_EQ(history[3].to_stage, "archived");
  EXPECT_FALSE(history[3].changed_at.empty());
  EXPECT_FALSE(history[3].changed_by.empty());

  EXPECT_TRUE(contains(error_message_of([&] { store.set_stage("det", 9, "staging"); }),
                       "model 'det' has no version 9; its versions: 1 (archived), 2 (production)"));
  EXPECT_TRUE(contains(error_message_of([&] { store.set_stage("det", 1, "live"); }), "'live' is not a stage"));
  EXPECT_TRUE(contains(error_message_of([&] { store.set_stage("nope", 1, "staging"); }), "no model named 'nope'"));
}

TEST(ModelRegistry, AMissingNameVersionOrStageListsWhatExists) {
  TempDir dir;
  RunStore store(dir.file("store.db"));
  const auto a = write_run(dir.path() / "runs", "a");
  EXPECT_TRUE(contains(error_message_of([&] { store.resolve_model("models:/det/1"); }), "no model is registered there yet"));
  store.register_model(a.path(), "det");
  store.register_model(a.path(), "other");
  std::string message = error_message_of([&] { store.resolve_model("models:/dte/1"); });
  EXPECT_TRUE(contains(message, "no model named 'dte'")) << message;
  EXPECT_TRUE(contains(message, "registered: det, other")) << message;
  message = error_message_of([&] { store.resolve_model("models:/det/4"); });
  EXPECT_TRUE(contains(message, "has no version 4; its versions: 1 (none)")) << message;
  message = error_message_of([&] { store.resolve_model("models:/det/production"); });
  EXPECT_TRUE(contains(message, "no version of 'det' is in production; its versions: 1 (none)")) << message;
  message = error_message_of([&] { store.resolve_model("models:/det/latest"); });
  EXPECT_TRUE(contains(message, "neither a version number nor a stage")) << message;
  for (const char* malformed : {"models:/det", "models:/det/", "models://1", "models:/det/1/2"}) {
    EXPECT_TRUE(contains(error_message_of([&] { store.resolve_model(malformed); }), "expected models:/NAME/VERSION")) << malformed;
  }
  // The run's folder deleted after registering.
  fs::remove_all(a.path());
  message = error_message_of([&] { store.resolve_model("models:/det/1"); });
  EXPECT_TRUE(contains(message, "whose folder is gone")) << message;
}

TEST(ModelRegistry, ResolveRunReferencePassesFoldersThrough) {
  TempDir dir;
  const std::string file = dir.file("store.db");
  const auto a = write_run(dir.path() / "runs", "a");
  EXPECT_EQ(resolve_run_reference("runs/whatever", file), "runs/whatever");
  EXPECT_TRUE(contains(error_message_of([&] { resolve_run_reference("models:/det/1", file); }), "no run store here"));
  RunStore(file).register_model(a.path(), "det");
  EXPECT_EQ(resolve_run_reference("models:/det/1", file), canonical(a.path()));
  cerebra::testing::ScopedEnv store("CEREBRA_STORE", file);
  EXPECT_EQ(resolve_run_reference("models:/det/1"), canonical(a.path()));
}
