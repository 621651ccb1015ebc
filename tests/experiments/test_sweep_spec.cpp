// The [sweep] table: the trials it makes, the rungs, and a clear error for
// every bad input (file and line, the key, the problem).
#include <set>

#include <gtest/gtest.h>

#include "cerebra/config.h"
#include "cerebra/experiments.h"

using cerebra::ConfigError;
using cerebra::ConfigNode;
using cerebra::SweepSpec;

namespace {

SweepSpec spec_of(const std::string& text) { return cerebra::parse_sweep(cerebra::parse_toml(text, "s.toml"), "s.toml"); }

// Every problem parse_sweep reports, one per line.
std::string problems_of(const std::string& text) {
  try {
    spec_of(text);
  } catch (const ConfigError& error) {
    std::string all;
    for (const auto& d : error.diagnostics()) all += d.to_string() + "\n";
    return all;
  }
  ADD_FAILURE() << "expected a ConfigError for:\n" << text;
  return "";
}

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST(SweepSpec, GridEnumeratesEveryCombinationLastKeyFastest) {
  const SweepSpec spec = spec_of(R"(
[sweep]
metric = "val_loss"
goal = "min"
[sweep.parameters]
"optimizer.learning_rate" = [0.1, 0.01, 0.001]
model.dropout = {values = [0.2, 0.5]}
)");
  EXPECT_EQ(spec.method, "grid");
  EXPECT_FALSE(spec.maximise);
  ASSERT_EQ(spec.parameters.size(), 2u);
  EXPECT_EQ(spec.parameters[1].key, "model.dropout");  // an unquoted dotted key is a table of the section
  const auto trials = cerebra::sweep_trials(spec);
  ASSERT_EQ(trials.size(), 6u);
  std::set<std::pair<double, double>> seen;
  for (const auto& trial : trials) {
    ASSERT_EQ(trial.size(), 2u);
    seen.insert({trial[0].second.floating, trial[1].second.floating});
  }
  EXPECT_EQ(seen.size(), 6u);
  EXPECT_EQ(trials[0][0].second.floating, 0.1);
  EXPECT_EQ(trials[0][1].second.floating, 0.2);
  EXPECT_EQ(trials[1][1].second.floating, 0.5);
  EXPECT_EQ(trials[2][0].second.floating, 0.01);
}

TEST(SweepSpec, GridBudgetTakesASeededSubset) {
  const std::string text = "[sweep]\nbudget = 4\n[sweep.parameters]\n\"a.b\" = [1, 2, 3]\n\"c.d\" = [4, 5, 6]\n";
  const auto first = cerebra::sweep_trials(spec_of(text));
  ASSERT_EQ(first.size(), 4u);
  const auto again = cerebra::sweep_trials(spec_of(text));
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(first[i][0].second.integer, again[i][0].second.integer);
}

TEST(SweepSpec, RandomDrawsStayInTheirRangesAndRepeat) {
  const std::string text = R"(
[sweep]
method = "random"
budget = 50
seed = 3
[sweep.parameters]
"optimizer.learning_rate" = {log_uniform = [1e-4, 1e-1]}
"model.dropout" = {uniform = [0.1, 0.6]}
"training.batch_size" = {int_uniform = [8, 10]}
"optimizer.type" = ["adam", "sgd"]
)";
  const auto trials = cerebra::sweep_trials(spec_of(text));
  ASSERT_EQ(trials.size(), 50u);
  int below_1e3 = 0;
  std::set<std::int64_t> sizes;
  std::set<std::string> types;
  for (const auto& t : trials) {
    EXPECT_GE(t[0].second.floating, 1e-4);
    EXPECT_LE(t[0].second.floating, 1e-1);
    below_1e3 += t[0].second.floating < 1e-3 ? 1 : 0;
    EXPECT_GE(t[1].second.floating, 0.1);
    EXPECT_LT(t[1].second.floating, 0.6);
    sizes.insert(t[2].second.integer);
    types.insert(t[3].second.string);
  }
  // Log-uniform: a third of the draws fall in the lowest decade of three.
  EXPECT_GT(below_1e3, 5);
  EXPECT_LT(below_1e3, 30);
  EXPECT_EQ(sizes, (std::set<std::int64_t>{8, 9, 10}));
  EXPECT_EQ(types.size(), 2u);
  EXPECT_EQ(cerebra::sweep_trials(spec_of(text))[7][0].second.floating, trials[7][0].second.floating);
}

TEST(SweepSpec, RungsGrowByEtaAndEndAtTheEpochs) {
  SweepSpec spec;
  spec.eta = 3;
  spec.min_epochs = 1;
  EXPECT_EQ(cerebra::sweep_rungs(spec, 10), (std::vector<int>{1, 3, 9, 10}));
  EXPECT_EQ(cerebra::sweep_rungs(spec, 9), (std::vector<int>{1, 3, 9}));
  spec.min_epochs = 2;
  spec.eta = 2;
  EXPECT_EQ(cerebra::sweep_rungs(spec, 2), (std::vector<int>{2}));
}

TEST(SweepSpec, BadInputsAreNamedWithFileAndLine) {
  const std::string base = "[sweep.parameters]\n\"optimizer.learning_rate\" = [0.1]\n";
  EXPECT_TRUE(has(problems_of("[run]\nname = \"x\"\n"), "s.toml: no [sweep] table"));
  auto p = problems_of("[sweep]\nbudjet = 3\n" + base);
  EXPECT_TRUE(has(p, "s.toml:2:")) << p;
  EXPECT_TRUE(has(p, "unknown key 'budjet' (did you mean 'budget'?)")) << p;
  p = problems_of("[sweep]\nbudget = \"many\"\neta = 1\n" + base);
  EXPECT_TRUE(has(p, "[sweep] budget must be an integer, found string")) << p;
  EXPECT_TRUE(has(p, "[sweep] eta must be at least 2, found 1")) << p;
  p = problems_of("[sweep]\ngoal = \"up\"\n" + base);
  EXPECT_TRUE(has(p, "[sweep] goal must be one of max, min, found \"up\"")) << p;
  p = problems_of("[sweep]\n[sweep.parameters]\n\"model.dropout\" = []\n");
  EXPECT_TRUE(has(p, "'model.dropout': empty list of values")) << p;
  p = problems_of("[sweep]\nmethod = \"random\"\nbudget = 2\n[sweep.parameters]\n\"model.dropout\" = {uniform = [0.5, 0.1]}\n");
  EXPECT_TRUE(has(p, "'model.dropout': uniform [0.5, 0.1] is an empty range")) << p;
  p = problems_of("[sweep]\nmethod = \"random\"\nbudget = 2\n[sweep.parameters]\n\"optimizer.learning_rate\" = {log_uniform = [0, 1]}\n");
  EXPECT_TRUE(has(p, "log_uniform needs low > 0")) << p;
  p = problems_of("[sweep]\n[sweep.parameters]\n\"optimizer.learning_rate\" = {log_uniform = [1e-4, 1e-2]}\n");
  EXPECT_TRUE(has(p, "method = \"grid\" needs lists of values; 'optimizer.learning_rate' is a range")) << p;
  p = problems_of("[sweep]\nmethod = \"random\"\n" + base);
  EXPECT_TRUE(has(p, "method = \"random\" needs a budget")) << p;
  p = problems_of("[sweep]\n[sweep.parameters]\nlr = [0.1]\n\"model.dropout\" = 0.3\n\"run.name\" = [\"a\"]\n");
  EXPECT_TRUE(has(p, "'lr': name a pipeline key as section.key")) << p;
  EXPECT_TRUE(has(p, "'model.dropout': expected a list of values or a table")) << p;
  EXPECT_TRUE(has(p, "'run.name' is set by the sweep itself")) << p;
  EXPECT_TRUE(has(problems_of("[sweep]\nmetric = \"val_accuracy\"\n"), "[sweep] has no parameters table"));
}
