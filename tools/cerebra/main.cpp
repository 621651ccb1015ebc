// The `cerebra` command: parses the command line and prints; every verb is a
// thin call into the framework (commands.cpp).
#include <iostream>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "cerebra/host.h"
#include "cerebra/tta.h"
#include "commands.h"

namespace po = boost::program_options;
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

Options for every command:
  --plugin-path DIR      also search DIR for plugins (repeatable)
  --strict               a plugin that fails to load is fatal (exit 3)
  -h, --help             help for a command
  --version              print the version

Exit codes: 0 ok, 1 failed (run, evaluation, or nothing predicted/compared),
            2 bad usage or invalid pipeline, 3 plugin load failure under --strict,
            130 interrupted (Ctrl-C; continue with run --resume).
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

  EvalOptions eval;
  AuditCommandOptions audit;
  ExplainCommandOptions explain;
  bool csv = false, json = false, markdown = false, predicted = false;
  std::string out, tta;

  std::string synopsis;
  const std::size_t unlimited = static_cast<std::size_t>(-1);
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
                     "       cerebra run --resume RUN_DIR [--set section.key=value]...\n\n"
                     "Validates the pipeline, then trains and evaluates it into a run directory\n"
                     "(resolved pipeline, split, metrics.jsonl, checkpoints, summary.json).\n"
                     "Ctrl-C stops after the current batch; --resume continues where it stopped.\n"
                     "With --resume, --set may change only settings that do not alter what was\n"
                     "trained (docs/cli.md lists them), e.g. training.epochs or loader.on_bad_file.";
    min_args = max_args = 1;
  } else if (verb == "eval") {
    options.add_options()
        ("split", po::value(&eval.split)->value_name("SPLIT"), "split of split.csv: test (default), val or train")
        ("data", po::value(&eval.data)->value_name("DIR"), "evaluate a folder with one sub-folder per class instead")
        ("device", po::value(&eval.device)->value_name("DEVICE"), "auto (default), cpu, cuda or cuda:N")
        ("tta", po::value(&tta)->value_name("LIST"),
         "test-time augmentation instead of the run's [evaluation] tta: comma-separated variants, or none")
        ("json", po::bool_switch(&eval.json), "print the results as JSON");
    synopsis = "cerebra eval RUN_DIR [--split test|val|train] [--data DIR] [--tta LIST|none] [--json] [--device DEVICE]\n"
               "       cerebra eval RUN_DIR RUN_DIR... [same options]\n\n"
               "Loads the run's best checkpoint and the preprocessing it was trained with, evaluates\n"
               "a split (the dataset re-created from pipeline.toml) or a folder laid out like the\n"
               "training data (one sub-folder per class, named after the run's classes), and prints\n"
               "the metrics and confusion matrix. Writes metrics.json, confusion_matrix.csv and\n"
               "predictions.csv to RUN_DIR/eval/, or to RUN_DIR/eval/<folder name>/ with --data.\n"
               "Several runs: an ensemble averaging their probabilities on the first run's split (every\n"
               "run must have the same images in it and the same classes) or on --data; prints the\n"
               "ensemble's metrics and each run's accuracy and per-class recall; writes no files.\n"
               "Exit codes: 0 ok, 1 evaluation failed, 2 bad usage.";
    min_args = 1;
    max_args = unlimited;
  } else if (verb == "predict") {
    options.add_options()
        ("csv", po::bool_switch(&csv), "print CSV")
        ("json", po::bool_switch(&json), "print JSON")
        ("device", po::value(&eval.device)->value_name("DEVICE"), "auto (default), cpu, cuda or cuda:N");
    synopsis = "cerebra predict RUN_DIR IMAGE_OR_DIR... [--csv | --json] [--device DEVICE]\n\n"
               "The predicted class and every class's probability for each image, using the run's\n"
               "best checkpoint and preprocessing. Folders are walked (recursively) for image files.\n"
               "A file that cannot be read gets a line saying why; the others are still predicted.\n"
               "Exit codes: 0 at least one image predicted, 1 none, 2 bad usage.";
    min_args = 2;
    max_args = unlimited;
  } else if (verb == "explain") {
    options.add_options()
        ("method", po::value(&explain.method)->value_name("METHOD"), "gradcam (default) or gradcam++")
        ("class", po::value(&explain.target_class)->value_name("NAME"), "explain this class instead of the predicted one")
        ("predicted", po::bool_switch(&predicted), "explain each image's predicted class (the default)")
        ("out", po::value(&explain.out)->value_name("DIR"), "where overlays and cams.jsonl go (default RUN_DIR/explain)")
        ("json", po::bool_switch(&explain.json), "print JSON (one line per image; the report with --sanity)")
        ("sanity", po::bool_switch(&explain.sanity), "run the sanity checks instead of explaining images")
        ("data", po::value(&explain.data)->value_name("DIR"), "--sanity on the images of DIR instead of the test split")
        ("images", po::value(&explain.images)->value_name("N"), "--sanity: at most N images (default 64)")
        ("device", po::value(&explain.device)->value_name("DEVICE"), "auto (default), cpu, cuda or cuda:N");
    synopsis = "cerebra explain RUN_DIR IMAGE_OR_DIR... [--method gradcam|gradcam++] [--class NAME|--predicted]\n"
               "                [--out DIR] [--json]\n"
               "       cerebra explain RUN_DIR --sanity [--data DIR] [--images N] [--json]\n\n"
               "Grad-CAM (or Grad-CAM++) at the architecture's Grad-CAM layer, with the run's best\n"
               "checkpoint and preprocessing: for each image a PNG of the heat map over the image as the\n"
               "model saw it and one over the original, and a line in cams.jsonl (classes, probability,\n"
               "peak, share of the map inside the head). A file that cannot be explained gets an error\n"
               "line; the others go on. --sanity randomises the layer groups from the head down and\n"
               "compares the maps (Spearman, SSIM), and scores localisation where lesions are known.\n"
               "Exit codes: 0 at least one image explained (or the checks ran), 1 none, 2 bad usage.";
    min_args = 1;
    max_args = unlimited;
  } else if (verb == "compare") {
    options.add_options()
        ("markdown", po::bool_switch(&markdown), "print a Markdown table")
        ("csv", po::bool_switch(&csv), "print CSV");
    synopsis = "cerebra compare RUN_DIR... [--markdown | --csv]\n\n"
               "One row per run in the paper's layout (Model, Accuracy, Precision, Sensitivity,\n"
               "F1-Score, then Specificity and ROC-AUC where measured) from each run's summary.json\n"
               "test metrics, with the dataset, epochs and whether ImageNet weights were used.\n"
               "A missing or invalid run directory gets a line naming it; the others are compared.\n"
               "Exit codes: 0 at least one run compared, 1 none, 2 bad usage.";
    min_args = 1;
    max_args = unlimited;
  } else if (verb == "audit") {
    options.add_options()
        ("json", po::bool_switch(&common.json), "print the whole report as JSON")
        ("html", po::value(&audit.html)->value_name("FILE"), "also write a self-contained HTML page with thumbnails")
        ("near-threshold", po::value(&audit.near_threshold)->value_name("N"),
         "largest perceptual-hash distance (of 64 bits) for a near-duplicate candidate (default 10)")
        ("clusters", po::value(&audit.clusters)->value_name("K"), "source clusters per dataset (default: by silhouette)")
        ("examples", po::value(&audit.examples)->value_name("N"), "groups shown per finding (default 5)")
        ("cache", po::value(&audit.cache_dir)->value_name("DIR"), "trait cache folder (default .cache/cerebra)")
        ("set", po::value(&audit.overrides)->composing(),
         "override a value of the pipelines audited: section.key=value (repeatable)");
    synopsis = "cerebra audit DATA_OR_PIPELINE... [--json] [--html FILE] [--near-threshold N] [--clusters K]\n"
               "              [--set section.key=value]...\n\n"
               "Audits dataset folders (any layout a dataset plugin reads; images outside its classes\n"
               "are audited as unlabelled), pipelines (their dataset, split as a run would split it)\n"
               "and run directories (their split.csv): exact and near-duplicate groups, label\n"
               "conflicts, groups that leak across train/val/test or lie in two inputs, unreadable\n"
               "files, sizes, channels, intensity per class, and source clusters whose traits could\n"
               "stand in for the class. Traits are cached by content, so a second audit is fast.\n"
               "Exit codes: 0 audited, 1 an input could not be read, 2 bad usage.";
    min_args = 1;
    max_args = unlimited;
  } else if (verb == "report") {
    options.add_options()("out", po::value(&out)->value_name("FILE"), "write the report here (required for several runs)");
    synopsis = "cerebra report RUN_DIR [RUN_DIR...] [--out FILE.html]\n\n"
               "One self-contained HTML file (no network request, works offline): run summary and\n"
               "resolved pipeline, data, learning curves, confusion matrix, ROC curves, reliability\n"
               "diagram, per-class figures with bootstrap intervals, Grad-CAM gallery. Several runs:\n"
               "the study's table layout side by side and the curves overlaid. One run's report goes\n"
               "to RUN_DIR/report.html unless --out says otherwise.\n"
               "Exit codes: 0 written, 1 a run could not be read or the file not written (or it was\n"
               "written with parts missing, each named on stderr), 2 bad usage.";
    min_args = 1;
    max_args = unlimited;
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
              << (min_args == max_args    ? std::to_string(min_args)
                  : max_args == unlimited ? "at least " + std::to_string(min_args)
                                          : std::to_string(min_args) + " to " + std::to_string(max_args))
              << " argument(s), got " << positional.size() << "\n\nUsage: " << synopsis << "\n";
    return kBadUsage;
  }

  auto usage_error = [&](const std::string& message) {
    std::cerr << "cerebra " << verb << ": " << message << "\n\nUsage: " << synopsis << "\n";
    return kBadUsage;
  };
  if (verb == "eval" && variables.count("split") && variables.count("data")) {
    return usage_error("--split and --data exclude each other");
  }
  if (verb == "eval" && eval.split != "test" && eval.split != "val" && eval.split != "train") {
    return usage_error("--split must be test, val or train, not '" + eval.split + "'");
  }
  if (verb == "eval" && variables.count("tta")) {
    try {
      eval.tta = cerebra::parse_tta_list(tta);
    } catch (const std::exception& error) {
      return usage_error(std::string("--tta: ") + cerebra::brief(error));
    }
  }
  if (verb == "predict" && csv && json) return usage_error("--csv and --json exclude each other");
  if (verb == "explain") {
    if (predicted && !explain.target_class.empty()) return usage_error("--class and --predicted exclude each other");
    if (explain.method != "gradcam" && explain.method != "gradcam++") {
      return usage_error("--method must be gradcam or gradcam++, not '" + explain.method + "'");
    }
    if (explain.sanity && positional.size() > 1) return usage_error("--sanity takes no images (use --data DIR)");
    if (!explain.sanity && positional.size() < 2) return usage_error("name at least one image or folder to explain");
    if (!explain.sanity && (!explain.data.empty() || variables.count("images"))) {
      return usage_error("--data and --images go with --sanity");
    }
    if (explain.images == 0) return usage_error("--images must be at least 1");
  }
  if (verb == "compare" && csv && markdown) return usage_error("--csv and --markdown exclude each other");
  if (verb == "report" && positional.size() > 1 && out.empty()) {
    return usage_error("several runs need --out FILE.html (a run's own report.html describes that run alone)");
  }

  std::string first = positional.empty() ? "" : positional[0];
  if (verb == "eval") return command_eval(common, positional, eval);
  if (verb == "predict") {
    return command_predict(common, first, std::vector<std::string>(positional.begin() + 1, positional.end()),
                           json ? "json" : csv ? "csv" : "table", eval.device);
  }
  if (verb == "audit") {
    if (variables.count("near-threshold") && (audit.near_threshold < 0 || audit.near_threshold > 32)) return usage_error("--near-threshold must lie in [0, 32]");
    if (audit.clusters < 0 || audit.clusters > 50) return usage_error("--clusters must lie in [0, 50]");
    return command_audit(common, positional, audit);
  }
  if (verb == "explain") {
    return command_explain(common, first, std::vector<std::string>(positional.begin() + 1, positional.end()), explain);
  }
  if (verb == "compare") return command_compare(positional, markdown ? "markdown" : csv ? "csv" : "table");
  if (verb == "report") return command_report(common, positional, out);
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
