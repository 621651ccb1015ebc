// `runs list --where`: the parser, and that what it parses reaches SQLite as
// bound values only.
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

TEST(StoreWhere, ParsesTermsJoinedByAnd) {
  const auto terms = parse_where("model=resnet50 and test.accuracy>0.95 AND training.epochs <= 5 and tag != old");
  ASSERT_EQ(terms.size(), 4u);
  EXPECT_EQ(terms[0].key, "model");
  EXPECT_EQ(terms[0].op, "=");
  EXPECT_EQ(terms[0].value, "resnet50");
  EXPECT_EQ(terms[1].key, "test.accuracy");
  EXPECT_EQ(terms[1].op, ">");
  ASSERT_TRUE(terms[1].value.is_number());
  EXPECT_DOUBLE_EQ(terms[1].value.get<double>(), 0.95);
  EXPECT_EQ(terms[2].op, "<=");
  EXPECT_EQ(terms[2].value.get<double>(), 5.0);
  EXPECT_EQ(terms[3].key, "tag");
  EXPECT_EQ(terms[3].op, "!=");
  EXPECT_EQ(terms[3].value, "old");
  EXPECT_TRUE(parse_where("").empty());
  EXPECT_TRUE(parse_where("   ").empty());
}

TEST(StoreWhere, QuotedValuesAreTextAndMayHoldSpacesAndAnd) {
  const auto terms = parse_where("name = 'a and b' and message=\"it's done\" and epochs='5'");
  ASSERT_EQ(terms.size(), 3u);
  EXPECT_EQ(terms[0].value, "a and b");
  EXPECT_EQ(terms[1].value, "it's done");
  EXPECT_TRUE(terms[2].value.is_string());  // quoted: text, even when it reads as a number
}

TEST(StoreWhere, BadTermsAreErrorsNamingTheTerm) {
  EXPECT_TRUE(contains(error_message_of([] { parse_where("model"); }), "term 'model': expected an operator"));
  EXPECT_TRUE(contains(error_message_of([] { parse_where("model==x"); }), "term 'model==x': unknown operator '=='"));
  EXPECT_TRUE(contains(error_message_of([] { parse_where("model=>x"); }), "unknown operator '=>'"));
  EXPECT_TRUE(contains(error_message_of([] { parse_where("model="); }), "term 'model=': no value"));
  EXPECT_TRUE(contains(error_message_of([] { parse_where("=x"); }), "term '=x': expected a key"));
  EXPECT_TRUE(contains(error_message_of([] { parse_where("model=x and"); }), "an empty term"));
  EXPECT_TRUE(contains(error_message_of([] { parse_where("model=x and  and y=1"); }), "an empty term"));
  EXPECT_TRUE(contains(error_message_of([] { parse_where("model='x"); }), "no closing '"));
  EXPECT_TRUE(contains(error_message_of([] { parse_where("model='x'y"); }), "text after the quoted value"));
  EXPECT_TRUE(contains(error_message_of([] { parse_where("model=x or y=1"); }), "quote it whole"));
  EXPECT_TRUE(contains(error_message_of([] { parse_where("model;drop=1"); }), "expected an operator"));
}

TEST(StoreWhere, AnInjectionAttemptIsRefusedOrMatchedAsPlainText) {
  TempDir dir;
  const std::string file = dir.file("store.db");
  RunStore store(file);
  write_run(dir.path() / "runs", "a", RunSpec{"cnn"});
  write_run(dir.path() / "runs", "b", RunSpec{"resnet50"});
  store.index_folder(dir.file("runs"));

  // Unquoted, the quote and the spaces make it no value at all.
  const std::string refused = error_message_of([] { parse_where("model=x' or 1=1 --"); });
  EXPECT_TRUE(contains(refused, "term 'model=x' or 1=1 --'")) << refused;
  // Quoted, it is a value like any other: no run has that model, and nothing else happened.
  EXPECT_TRUE(store.list(parse_where("model=\"x' or 1=1 --\"")).empty());
  EXPECT_TRUE(store.list(parse_where("model=\"cnn' or '1'='1\"")).empty());
  EXPECT_TRUE(store.list(parse_where("model=\"x'; DROP TABLE runs; --\"")).empty());
  EXPECT_EQ(store.list({}).size(), 2u);
  // A key is bound too: one that is SQL finds nothing.
  EXPECT_TRUE(store.list({{"1=1) OR (1", "=", "1"}}).empty());
  EXPECT_TRUE(contains(error_message_of([&] { store.list({{"model", "= 1 OR 1 =", "1"}}); }), "unknown operator"));
}

TEST(StoreWhere, ComparesNumbersAsNumbersAndTextAsText) {
  TempDir dir;
  RunStore store(dir.file("store.db"));
  write_run(dir.path() / "runs", "slow", RunSpec{"cnn", 0.0001, 3, 0.97});
  write_run(dir.path() / "runs", "fast", RunSpec{"cnn", 0.01, 5, 0.91});
  write_run(dir.path() / "runs", "resnet", RunSpec{"resnet50", 0.001, 2, 0.99});
  store.index_folder(dir.file("runs"));
  auto names = [&](const std::string& where) {
    std::string out;
    for (const auto& run : store.list(parse_where(where))) out += (out.empty() ? "" : ",") + run.name;
    return out;
  };
  EXPECT_EQ(names("model=cnn"), "fast,slow");
  EXPECT_EQ(names("model!=cnn"), "resnet");
  EXPECT_EQ(names("test.accuracy>0.95"), "resnet,slow");
  EXPECT_EQ(names("model=cnn and test.accuracy>0.95"), "slow");
  EXPECT_EQ(names("training.epochs>=3"), "fast,slow");
  EXPECT_EQ(names("training.epochs=5"), "fast");
  EXPECT_EQ(names("optimizer.learning_rate<0.001"), "slow");
  EXPECT_EQ(names("optimizer.learning_rate=1e-2"), "fast");
  EXPECT_EQ(names("epochs_completed<3"), "resnet");
  EXPECT_EQ(names("status=completed and preprocess.1=resize and preprocess.1.size=32"), "fast,resnet,slow");
  EXPECT_EQ(names("model>5"), "");  // text never equals or compares with a number
  EXPECT_EQ(names("no.such.key=1"), "");
}
