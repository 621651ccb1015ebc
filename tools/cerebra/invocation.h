#pragma once
// One command-line verb being parsed: the options every verb shares, the
// positional arguments, and the usage errors in one voice. A verb is a
// function that adds its own options, calls parse(), checks what only it
// knows, and calls into the framework (verbs.cpp; the table in main.cpp).

#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/program_options.hpp>

#include "commands.h"

namespace cerebra::cli {

class Invocation {
 public:
  static constexpr std::size_t kUnlimited = static_cast<std::size_t>(-1);

  Invocation(std::string verb, int argc, char** argv);

  // What --help and every usage error print; set first.
  void describe(std::string synopsis) { synopsis_ = std::move(synopsis); }

  // The verb's own options; add them before parse().
  boost::program_options::options_description_easy_init add_options() { return options_.add_options(); }

  // Parses the command line. Returns an exit code when the verb must stop
  // here (--help printed, or a usage error printed), nothing otherwise.
  std::optional<int> parse(std::size_t min_args, std::size_t max_args);

  // Prints "cerebra VERB: MESSAGE" and the synopsis; returns kBadUsage.
  int usage_error(const std::string& message) const;

  bool given(const std::string& option) const { return variables_.count(option) > 0; }
  const std::string& verb() const { return verb_; }
  const std::vector<std::string>& positional() const { return positional_; }
  std::string first() const { return positional_.empty() ? "" : positional_.front(); }
  std::vector<std::string> rest() const;  // the positional arguments after the first

  CommonOptions common;

 private:
  std::string verb_;
  std::string synopsis_;
  int argc_;
  char** argv_;
  boost::program_options::options_description options_;
  boost::program_options::variables_map variables_;
  std::vector<std::string> positional_;
};

// Each verb: adds its options, parses, checks, runs (verbs.cpp).
int verb_list(Invocation& in);
int verb_inspect(Invocation& in);
int verb_validate(Invocation& in);
int verb_run(Invocation& in);
int verb_eval(Invocation& in);
int verb_predict(Invocation& in);
int verb_explain(Invocation& in);
int verb_compare(Invocation& in);
int verb_audit(Invocation& in);
int verb_report(Invocation& in);
int verb_export(Invocation& in);
// experiment_verbs.cpp: k-fold cross-validation and sweeps.
int verb_kfold(Invocation& in);
int verb_sweep(Invocation& in);
// compare and report of k-fold parents (folders holding kfold.json).
bool all_kfold_parents(const std::vector<std::string>& folders);
int compare_kfold(const std::vector<std::string>& parents, bool json_output);
// Each k-fold parent replaced by its finished fold run directories.
std::vector<std::string> expand_kfold_parents(const std::vector<std::string>& folders);
// store_verbs.cpp: the run store and the registry of trained models.
int verb_runs_list(Invocation& in);
int verb_runs_show(Invocation& in);
int verb_runs_compare(Invocation& in);
int verb_runs_tag(Invocation& in);
int verb_runs_untag(Invocation& in);
int verb_runs_index(Invocation& in);
int verb_runs_gc(Invocation& in);
int verb_models_register(Invocation& in);
int verb_models_stage(Invocation& in);
int verb_models_list(Invocation& in);
int verb_models_show(Invocation& in);

}  // namespace cerebra::cli
