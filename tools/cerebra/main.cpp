// The `cerebra` command: parses the command line and prints; every verb is a
// thin call into the framework (commands.cpp).
#include <iostream>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "cerebra/host.h"
#include "commands.h"

namespace po = boost::program_options;
using namespace cerebra::cli;

namespace {

const char* kUsage = R"(Usage: cerebra <command> [options]

Commands:
  list [KIND]            registered components (KIND: dataset, transform,
                         architecture, metric), or `list plugins`
  inspect NAME           a component's parameters (or a pipeline section's)
  validate PIPELINE      check a pipeline file; prints every problem
  run PIPELINE           train and evaluate a pipeline

Options for every command:
  --plugin-path DIR      also search DIR for plugins (repeatable)
  --strict               a plugin that fails to load is fatal (exit 3)
  -h, --help             help for a command
  --version              print the version

Exit codes: 0 ok, 1 run failed, 2 bad usage or invalid pipeline,
            3 plugin load failure under --strict.
)";

po::options_description common_options(CommonOptions& common) {
  po::options_description options("Options");
  options.add_options()
      ("plugin-path", po::value(&common.plugin_paths)->composing(), "also search DIR for plugins")
      ("strict", po::bool_switch(&common.strict), "fail (exit 3) when any plugin fails to load")
      ("help,h", "show help");
  return options;
}

struct Verb {
  const char* name;
  const char* synopsis;
};

int dispatch(const std::string& verb, int argc, char** argv) {
  CommonOptions common;
  po::options_description options = common_options(common);
  std::vector<std::string> positional;
  std::vector<std::string> overrides;
  std::string resume_dir;
  po::positional_options_description positional_spec;
  positional_spec.add("args", -1);
  options.add_options()("args", po::value(&positional), "positional arguments");

  std::string synopsis;
  std::size_t min_args = 0, max_args = 0;
  if (verb == "list") {
    options.add_options()("json", po::bool_switch(&common.json), "print JSON for tooling");
    synopsis = "cerebra list [KIND|plugins] [--json]\n\n"
               "Every registered component: kind, name, plugin file and summary.\n"
               "`cerebra list plugins` shows every plugin file found, loaded or skipped, and why.";
    max_args = 1;
  } else if (verb == "inspect") {
    options.add_options()("json", po::bool_switch(&common.json), "print JSON for tooling");
    synopsis = "cerebra inspect NAME [--json]\n\n"
               "A component's parameters: type, default, range or choices, documentation.\n"
               "NAME may be kind/name when two kinds share a name, or a pipeline section\n"
               "(run, split, loader, transfer, training, evaluation).";
    min_args = max_args = 1;
  } else if (verb == "validate" || verb == "run") {
    options.add_options()("set", po::value(&overrides)->composing(),
                          "override a value: section.key=value (repeatable)");
    if (verb == "run") {
      options.add_options()("resume", po::value(&resume_dir)->value_name("RUN_DIR"),
                            "continue a stopped run from its last checkpoint");
    }
    synopsis = verb == "validate"
                   ? "cerebra validate PIPELINE.toml [--set section.key=value]...\n\n"
                     "Validates the pipeline and exits 0, or prints every problem (exit 2)."
                   : "cerebra run PIPELINE.toml [--set section.key=value]...\n"
                     "       cerebra run --resume RUN_DIR\n\n"
                     "Validates the pipeline, then trains and evaluates it into a run directory\n"
                     "(resolved pipeline, split, metrics.jsonl, checkpoints, summary.json).\n"
                     "Ctrl-C stops after the current batch; --resume continues where it stopped.";
    min_args = max_args = 1;
  } else {
    std::cerr << "cerebra: unknown command '" << verb << "'\n\n" << kUsage;
    return kBadUsage;
  }

  po::options_description visible = common_options(common);
  for (const auto& option : options.options()) {
    if (option->long_name() != "args" && !visible.find_nothrow(option->long_name(), false)) {
      visible.add(option);
    }
  }

  po::variables_map variables;
  try {
    po::store(po::command_line_parser(argc, argv).options(options).positional(positional_spec).run(),
              variables);
    po::notify(variables);
  } catch (const po::error& error) {
    std::cerr << "cerebra " << verb << ": " << error.what() << "\n\nUsage: " << synopsis << "\n";
    return kBadUsage;
  }
  if (variables.count("help")) {
    std::cout << "Usage: " << synopsis << "\n\n" << visible << "\n";
    return kOk;
  }
  if (!resume_dir.empty()) min_args = max_args = 0;
  if (positional.size() < min_args || positional.size() > max_args) {
    std::cerr << "cerebra " << verb << ": expected "
              << (min_args == max_args ? std::to_string(min_args)
                                       : std::to_string(min_args) + " to " + std::to_string(max_args))
              << " argument(s), got " << positional.size() << "\n\nUsage: " << synopsis << "\n";
    return kBadUsage;
  }

  std::string first = positional.empty() ? "" : positional[0];
  if (verb == "list") return command_list(common, first);
  if (verb == "inspect") return command_inspect(common, first);
  if (verb == "validate") return command_validate(common, first, overrides);
  return command_run(common, first, overrides, resume_dir);
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
    return dispatch(verb, argc - 1, argv + 1);
  } catch (const std::exception& error) {
    std::cerr << "cerebra " << verb << ": error: " << cerebra::brief(error) << "\n";
    return kRunFailed;
  }
}
