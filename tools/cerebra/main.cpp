// The `cerebra` command: finds the verb and hands it the command line; each
// verb (verbs.cpp) parses its options and calls into the framework.
#include <iostream>
#include <string>

#include "cerebra/host.h"
#include "invocation.h"

using namespace cerebra::cli;

namespace {

const char* kUsage = R"(Usage: cerebra <command> [options]

Commands:
  list [KIND]            registered components (KIND: dataset, transform,
                         architecture, metric, loss, optimizer, schedule,
                         objective, callback), or `list plugins`
  inspect NAME           a component's parameters (or a pipeline section's)
  validate PIPELINE      check a pipeline file; prints every problem
  run PIPELINE           train and evaluate a pipeline
  eval RUN_DIR...        evaluate a run's best checkpoint on a split or a folder;
                         several runs: their ensemble
  predict RUN_DIR IMAGE_OR_DIR...
                         class and probabilities for each image
  compare RUN_DIR...     test metrics of several runs side by side
  audit DATA_OR_PIPELINE...
                         duplicates, near duplicates, label conflicts, leaks
                         across splits and datasets, odd files, source clusters
  report RUN_DIR...      a self-contained HTML report of a run, or of runs side by side
  explain RUN_DIR IMAGE_OR_DIR...
                         Grad-CAM heat maps for each image; --sanity checks them
  export RUN_DIR --format pth|safetensors|torchscript --out FILE
                         the run's model for Python (torchvision's names), with MODEL_CARD.md
  kfold PIPELINE         k-fold cross-validation: a run per fold under a parent folder,
                         mean, sd and 95% interval per test metric; resumable
  sweep PIPELINE         the trials of its [sweep] table with successive halving;
                         a ranked table and best.toml; resumable
  runs list|show|compare|tag|untag|index|gc
                         the run store: every run indexed as it trains
  models register|stage|list|show
                         the registry of trained models; predict, eval and explain
                         take models:/NAME/STAGE or models:/NAME/VERSION for RUN_DIR

Options for every command:
  --plugin-path DIR      also search DIR for plugins (repeatable)
  --strict               a plugin that fails to load is fatal (exit 3)
  -h, --help             help for a command
  --version              print the version

Exit codes: 0 ok, 1 failed (run, evaluation, or nothing predicted/compared),
            2 bad usage or invalid pipeline, 3 plugin load failure under --strict,
            130 interrupted (Ctrl-C; continue with run --resume).
)";

// One line per verb; a new verb is a function (invocation.h) and a line here.
// A verb of two words (`runs list`) is a group and a sub-command.
struct Verb {
  const char* name;
  int (*run)(Invocation&);
};

const Verb kVerbs[] = {
    {"list", verb_list},       {"inspect", verb_inspect}, {"validate", verb_validate}, {"run", verb_run},
    {"eval", verb_eval},       {"predict", verb_predict}, {"explain", verb_explain},   {"compare", verb_compare},
    {"audit", verb_audit},     {"report", verb_report},   {"export", verb_export},
    {"kfold", verb_kfold},      {"sweep", verb_sweep},
    {"runs list", verb_runs_list},       {"runs show", verb_runs_show},   {"runs compare", verb_runs_compare},
    {"runs tag", verb_runs_tag},         {"runs untag", verb_runs_untag}, {"runs index", verb_runs_index},
    {"runs gc", verb_runs_gc},
    {"models register", verb_models_register}, {"models stage", verb_models_stage},
    {"models list", verb_models_list},         {"models show", verb_models_show},
};

// argv[0] is the verb (or the group, argv[1] then its sub-command).
int dispatch(int argc, char** argv) {
  const std::string verb = argv[0];
  const std::string both = argc > 1 ? verb + " " + argv[1] : verb;
  std::string group_commands;
  for (const auto& entry : kVerbs) {
    const std::string name = entry.name;
    if (name == verb) {
      Invocation invocation(verb, argc, argv);
      return entry.run(invocation);
    }
    if (name == both) {
      Invocation invocation(both, argc - 1, argv + 1);
      return entry.run(invocation);
    }
    if (name.rfind(verb + " ", 0) == 0) group_commands += (group_commands.empty() ? "" : ", ") + name.substr(verb.size() + 1);
  }
  if (!group_commands.empty()) {
    const std::string asked = argc > 1 ? argv[1] : "";
    if (asked == "--help" || asked == "-h") {
      std::cout << "Usage: cerebra " << verb << " COMMAND [options]; COMMAND is one of: " << group_commands
                << "\n(cerebra " << verb << " COMMAND --help for its options)\n";
      return kOk;
    }
    std::cerr << "cerebra " << verb << ": " << (argc > 1 ? "unknown command '" + both + "'" : "a command is missing")
              << "; one of: " << group_commands << "\n";
    return kBadUsage;
  }
  std::cerr << "cerebra: unknown command '" << verb << "'\n\n" << kUsage;
  return kBadUsage;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << kUsage;
    return kBadUsage;
  }
  std::string verb = argv[1];
  if (verb == "--help" || verb == "-h" || verb == "help") {
    std::cout << kUsage;
    return kOk;
  }
  if (verb == "--version") {
    std::cout << "cerebra " << cerebra::version() << "\n";
    return kOk;
  }
  try {
    return dispatch(argc - 1, argv + 1);
  } catch (const std::exception& error) {
    std::cerr << "cerebra " << verb << ": error: " << cerebra::brief(error) << "\n";
    return kRunFailed;
  }
}
