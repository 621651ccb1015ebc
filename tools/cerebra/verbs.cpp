// Each verb of `cerebra`: its synopsis, its options, the checks only it can
// make, and the call into commands.cpp and friends.
#include <algorithm>
#include <exception>
#include <filesystem>
#include <string>

#include "cerebra/export.h"
#include "cerebra/host.h"
#include "cerebra/run_store.h"
#include "cerebra/tta.h"
#include "invocation.h"

namespace po = boost::program_options;

namespace cerebra::cli {

int verb_list(Invocation& in) {
  in.describe("cerebra list [KIND|plugins] [--json]\n\n"
              "Every registered component: kind, name, plugin file and summary.\n"
              "`cerebra list plugins` shows every plugin file found, loaded or skipped, and why.");
  in.add_options()("json", po::bool_switch(&in.common.json), "print JSON for tooling");
  if (auto code = in.parse(0, 1)) return *code;
  return command_list(in.common, in.first());
}

int verb_inspect(Invocation& in) {
  in.describe("cerebra inspect NAME [--json]\n\n"
              "A component's parameters: type, default, range or choices, documentation.\n"
              "NAME may be kind/name when two kinds share a name, or a pipeline section\n"
              "(run, split, loader, transfer, training, evaluation).");
  in.add_options()("json", po::bool_switch(&in.common.json), "print JSON for tooling");
  if (auto code = in.parse(1, 1)) return *code;
  return command_inspect(in.common, in.first());
}

int verb_validate(Invocation& in) {
  in.describe("cerebra validate PIPELINE.toml [--set section.key=value]...\n\n"
              "Validates the pipeline and exits 0, or prints every problem (exit 2).");
  std::vector<std::string> overrides;
  in.add_options()("set", po::value(&overrides)->composing(), "override a value: section.key=value (repeatable)");
  if (auto code = in.parse(1, 1)) return *code;
  return command_validate(in.common, in.first(), overrides);
}

int verb_run(Invocation& in) {
  in.describe("cerebra run PIPELINE.toml [--set section.key=value]... [--nproc N]\n"
              "       cerebra run --resume RUN_DIR [--set section.key=value]... [--nproc N]\n\n"
              "Validates the pipeline, then trains and evaluates it into a run directory\n"
              "(resolved pipeline, split, metrics.jsonl, checkpoints, summary.json).\n"
              "Ctrl-C stops after the current batch; --resume continues where it stopped.\n"
              "With --resume, --set may change only settings that do not alter what was\n"
              "trained (docs/cli.md lists them), e.g. training.epochs or loader.on_bad_file.\n"
              "--nproc N trains data-parallel in N local processes; under torchrun or Slurm\n"
              "(RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT set) each process joins the job\n"
              "(docs/distributed.md).");
  std::vector<std::string> overrides;
  std::string resume_dir;
  int nproc = 1;
  in.add_options()
      ("set", po::value(&overrides)->composing(), "override a value: section.key=value (repeatable)")
      ("resume", po::value(&resume_dir)->value_name("RUN_DIR"), "continue a stopped run from its last checkpoint")
      ("nproc", po::value(&nproc)->value_name("N"), "train data-parallel in N local worker processes");
  if (auto code = in.parse(0, 1)) return *code;
  if (nproc < 1 || nproc > 1024) {
    return in.usage_error("--nproc " + std::to_string(nproc) + ": the number of worker processes must be 1 to 1024");
  }
  const std::size_t wanted = resume_dir.empty() ? 1 : 0;
  if (in.positional().size() != wanted) {
    return in.usage_error("expected " + std::to_string(wanted) + " argument(s), got " +
                          std::to_string(in.positional().size()));
  }
  if (nproc > 1) return launch_local_workers(nproc);
  return command_run(in.common, in.first(), overrides, resume_dir);
}

int verb_eval(Invocation& in) {
  in.describe(
      "cerebra eval RUN_DIR [--split test|val|train] [--data DIR] [--tta LIST|none] [--json] [--device DEVICE]\n"
      "       cerebra eval RUN_DIR RUN_DIR... [same options]\n\n"
      "Loads the run's best checkpoint and the preprocessing it was trained with, evaluates\n"
      "a split (the dataset re-created from pipeline.toml) or a folder laid out like the\n"
      "training data (one sub-folder per class, named after the run's classes), and prints\n"
      "the metrics and confusion matrix. Writes metrics.json, confusion_matrix.csv and\n"
      "predictions.csv to RUN_DIR/eval/, or to RUN_DIR/eval/<folder name>/ with --data.\n"
      "Several runs: an ensemble averaging their probabilities on the first run's split (every\n"
      "run must have the same images in it and the same classes) or on --data; prints the\n"
      "ensemble's metrics and each run's accuracy and per-class recall; writes no files.\n"
      "RUN_DIR may be models:/NAME/STAGE or models:/NAME/VERSION (the registry in $CEREBRA_STORE,\n"
      "else runs/.cerebra/store.db).\n"
      "Exit codes: 0 ok, 1 evaluation failed, 2 bad usage.");
  EvalOptions eval;
  std::string tta;
  in.add_options()
      ("split", po::value(&eval.split)->value_name("SPLIT"), "split of split.csv: test (default), val or train")
      ("data", po::value(&eval.data)->value_name("DIR"), "evaluate a folder with one sub-folder per class instead")
      ("device", po::value(&eval.device)->value_name("DEVICE"), "auto (default), cpu, cuda or cuda:N")
      ("tta", po::value(&tta)->value_name("LIST"),
       "test-time augmentation instead of the run's [evaluation] tta: comma-separated variants, or none")
      ("json", po::bool_switch(&eval.json), "print the results as JSON");
  if (auto code = in.parse(1, Invocation::kUnlimited)) return *code;
  if (in.given("split") && in.given("data")) return in.usage_error("--split and --data exclude each other");
  if (eval.split != "test" && eval.split != "val" && eval.split != "train") {
    return in.usage_error("--split must be test, val or train, not '" + eval.split + "'");
  }
  if (in.given("tta")) {
    try {
      eval.tta = cerebra::parse_tta_list(tta);
    } catch (const std::exception& error) {
      return in.usage_error(std::string("--tta: ") + cerebra::brief(error));
    }
  }
  std::vector<std::string> run_dirs;
  for (const auto& reference : in.positional()) run_dirs.push_back(cerebra::resolve_run_reference(reference));
  return command_eval(in.common, run_dirs, eval);
}

int verb_predict(Invocation& in) {
  in.describe("cerebra predict RUN_DIR IMAGE_OR_DIR... [--csv | --json] [--device DEVICE]\n\n"
              "The predicted class and every class's probability for each image, using the run's\n"
              "best checkpoint and preprocessing. Folders are walked (recursively) for image files.\n"
              "A file that cannot be read gets a line saying why; the others are still predicted.\n"
              "RUN_DIR may be models:/NAME/STAGE or models:/NAME/VERSION (cerebra models).\n"
              "Exit codes: 0 at least one image predicted, 1 none, 2 bad usage.");
  bool csv = false, json = false;
  std::string device = "auto";
  in.add_options()
      ("csv", po::bool_switch(&csv), "print CSV")
      ("json", po::bool_switch(&json), "print JSON")
      ("device", po::value(&device)->value_name("DEVICE"), "auto (default), cpu, cuda or cuda:N");
  if (auto code = in.parse(2, Invocation::kUnlimited)) return *code;
  if (csv && json) return in.usage_error("--csv and --json exclude each other");
  return command_predict(in.common, cerebra::resolve_run_reference(in.first()), in.rest(),
                         json ? "json" : csv ? "csv" : "table", device);
}

int verb_explain(Invocation& in) {
  in.describe("cerebra explain RUN_DIR IMAGE_OR_DIR... [--method gradcam|gradcam++] [--class NAME|--predicted]\n"
              "                [--out DIR] [--json]\n"
              "       cerebra explain RUN_DIR --sanity [--data DIR] [--images N] [--json]\n\n"
              "Grad-CAM (or Grad-CAM++) at the architecture's Grad-CAM layer, with the run's best\n"
              "checkpoint and preprocessing: for each image a PNG of the heat map over the image as the\n"
              "model saw it and one over the original, and a line in cams.jsonl (classes, probability,\n"
              "peak, share of the map inside the head). A file that cannot be explained gets an error\n"
              "line; the others go on. RUN_DIR may be models:/NAME/STAGE or models:/NAME/VERSION.\n"
              "--sanity randomises the layer groups from the head down and\n"
              "compares the maps (Spearman, SSIM), and scores localisation where lesions are known.\n"
              "Exit codes: 0 at least one image explained (or the checks ran), 1 none, 2 bad usage.");
  ExplainCommandOptions explain;
  bool predicted = false;
  in.add_options()
      ("method", po::value(&explain.method)->value_name("METHOD"), "gradcam (default) or gradcam++")
      ("class", po::value(&explain.target_class)->value_name("NAME"), "explain this class instead of the predicted one")
      ("predicted", po::bool_switch(&predicted), "explain each image's predicted class (the default)")
      ("out", po::value(&explain.out)->value_name("DIR"), "where overlays and cams.jsonl go (default RUN_DIR/explain)")
      ("json", po::bool_switch(&explain.json), "print JSON (one line per image; the report with --sanity)")
      ("sanity", po::bool_switch(&explain.sanity), "run the sanity checks instead of explaining images")
      ("data", po::value(&explain.data)->value_name("DIR"), "--sanity on the images of DIR instead of the test split")
      ("images", po::value(&explain.images)->value_name("N"), "--sanity: at most N images (default 64)")
      ("device", po::value(&explain.device)->value_name("DEVICE"), "auto (default), cpu, cuda or cuda:N");
  if (auto code = in.parse(1, Invocation::kUnlimited)) return *code;
  if (predicted && !explain.target_class.empty()) return in.usage_error("--class and --predicted exclude each other");
  if (explain.method != "gradcam" && explain.method != "gradcam++") {
    return in.usage_error("--method must be gradcam or gradcam++, not '" + explain.method + "'");
  }
  const std::size_t images = in.positional().size() - 1;
  if (explain.sanity && images > 0) return in.usage_error("--sanity takes no images (use --data DIR)");
  if (!explain.sanity && images == 0) return in.usage_error("name at least one image or folder to explain");
  if (!explain.sanity && (!explain.data.empty() || in.given("images"))) {
    return in.usage_error("--data and --images go with --sanity");
  }
  if (explain.images == 0) return in.usage_error("--images must be at least 1");
  return command_explain(in.common, cerebra::resolve_run_reference(in.first()), in.rest(), explain);
}

int verb_compare(Invocation& in) {
  in.describe("cerebra compare RUN_DIR... [--markdown | --csv | --json]\n\n"
              "One row per run in the paper's layout (Model, Accuracy, Precision, Sensitivity,\n"
              "F1-Score, then Specificity and ROC-AUC where measured) from each run's summary.json\n"
              "test metrics, with the dataset, epochs and whether ImageNet weights were used.\n"
              "Each run is then tested against the first on the same test images: McNemar's exact\n"
              "test and a paired bootstrap 95% interval of the accuracy difference; an accuracy\n"
              "that does not differ significantly (p >= 0.05) is marked. Runs whose test sets\n"
              "differ are named and not tested. --csv prints the figures alone.\n"
              "A missing or invalid run directory gets a line naming it; the others are compared.\n"
              "Exit codes: 0 at least one run compared, 1 none, 2 bad usage.");
  bool csv = false, markdown = false;
  in.add_options()
      ("markdown", po::bool_switch(&markdown), "print Markdown tables")
      ("csv", po::bool_switch(&csv), "print CSV (the figures, without the paired tests)")
      ("json", po::bool_switch(&in.common.json), "print the runs and the paired tests as JSON");
  if (auto code = in.parse(1, Invocation::kUnlimited)) return *code;
  if (int(csv) + int(markdown) + int(in.common.json) > 1) {
    return in.usage_error("--csv, --markdown and --json exclude each other");
  }
  if (all_kfold_parents(in.positional())) {
    if (csv || markdown) return in.usage_error("k-fold parents compare as a table or --json");
    return compare_kfold(in.positional(), in.common.json);
  }
  return command_compare(in.positional(), markdown ? "markdown" : csv ? "csv" : in.common.json ? "json" : "table");
}

int verb_audit(Invocation& in) {
  in.describe("cerebra audit DATA_OR_PIPELINE... [--json] [--html FILE] [--near-threshold N] [--clusters K]\n"
              "              [--set section.key=value]...\n\n"
              "Audits dataset folders (any layout a dataset plugin reads; images outside its classes\n"
              "are audited as unlabelled), pipelines (their dataset, split as a run would split it)\n"
              "and run directories (their split.csv): exact and near-duplicate groups, label\n"
              "conflicts, groups that leak across train/val/test or lie in two inputs, unreadable\n"
              "files, sizes, channels, intensity per class, and source clusters whose traits could\n"
              "stand in for the class. Traits are cached by content, so a second audit is fast.\n"
              "Exit codes: 0 audited, 1 an input could not be read, 2 bad usage.");
  AuditCommandOptions audit;
  in.add_options()
      ("json", po::bool_switch(&in.common.json), "print the whole report as JSON")
      ("html", po::value(&audit.html)->value_name("FILE"), "also write a self-contained HTML page with thumbnails")
      ("near-threshold", po::value(&audit.near_threshold)->value_name("N"),
       "largest perceptual-hash distance (of 64 bits) for a near-duplicate candidate (default 10)")
      ("clusters", po::value(&audit.clusters)->value_name("K"), "source clusters per dataset (default: by silhouette)")
      ("examples", po::value(&audit.examples)->value_name("N"), "groups shown per finding (default 5)")
      ("cache", po::value(&audit.cache_dir)->value_name("DIR"), "trait cache folder (default .cache/cerebra)")
      ("set", po::value(&audit.overrides)->composing(),
       "override a value of the pipelines audited: section.key=value (repeatable)");
  if (auto code = in.parse(1, Invocation::kUnlimited)) return *code;
  if (in.given("near-threshold") && (audit.near_threshold < 0 || audit.near_threshold > 32)) {
    return in.usage_error("--near-threshold must lie in [0, 32]");
  }
  if (audit.clusters < 0 || audit.clusters > 50) return in.usage_error("--clusters must lie in [0, 50]");
  return command_audit(in.common, in.positional(), audit);
}

int verb_report(Invocation& in) {
  in.describe("cerebra report RUN_DIR [RUN_DIR...] [--out FILE.html]\n\n"
              "One self-contained HTML file (no network request, works offline): run summary and\n"
              "resolved pipeline, data, learning curves, confusion matrix, ROC curves, reliability\n"
              "diagram, per-class figures with bootstrap intervals, Grad-CAM gallery. Several runs:\n"
              "the study's table layout side by side and the curves overlaid. One run's report goes\n"
              "to RUN_DIR/report.html unless --out says otherwise.\n"
              "Exit codes: 0 written, 1 a run could not be read or the file not written (or it was\n"
              "written with parts missing, each named on stderr), 2 bad usage.");
  std::string out;
  in.add_options()("out", po::value(&out)->value_name("FILE"), "write the report here (required for several runs)");
  if (auto code = in.parse(1, Invocation::kUnlimited)) return *code;
  // A k-fold parent is its folds side by side, by default in PARENT/report.html.
  const std::vector<std::string> runs = expand_kfold_parents(in.positional());
  if (out.empty() && in.positional().size() == 1 && runs.size() > 1) {
    out = (std::filesystem::path(in.first()) / "report.html").string();
  }
  if (runs.empty()) return in.usage_error("the k-fold parent has no finished fold yet");
  if (runs.size() > 1 && out.empty()) {
    return in.usage_error("several runs need --out FILE.html (a run's own report.html describes that run alone)");
  }
  return command_report(in.common, runs, out);
}

int verb_export(Invocation& in) {
  in.describe("cerebra export RUN_DIR --format pth|safetensors|torchscript --out FILE\n\n"
              "Writes the run's best checkpoint for the Python ecosystem, with MODEL_CARD.md (data,\n"
              "split, metrics, preprocessing, how to load it, intended use) beside FILE:\n"
              "  pth          a state dict as torch.save writes it (torch.load, weights_only=True too)\n"
              "  safetensors  the same state dict as safetensors\n"
              "  torchscript  a module torch.jit.load runs without Cerebra (the architectures Cerebra ships)\n"
              "State dicts carry torchvision's parameter names, so torchvision.models.resnet50(num_classes=N)\n"
              "(vgg16, inception_v3) loads them strictly; the study's cnn has its module in the card.\n"
              "Exit codes: 0 written, 1 the run or the file could not be handled, 2 bad usage.");
  std::string format, out;
  in.add_options()
      ("format", po::value(&format)->value_name("FORMAT"), "pth, safetensors or torchscript")
      ("out", po::value(&out)->value_name("FILE"), "the file to write (MODEL_CARD.md goes beside it)");
  if (auto code = in.parse(1, 1)) return *code;
  if (format.empty()) return in.usage_error("--format is required (pth, safetensors or torchscript)");
  const auto& formats = cerebra::export_formats();
  if (std::find(formats.begin(), formats.end(), format) == formats.end()) {
    return in.usage_error("unknown --format '" + format + "' (pth, safetensors or torchscript)");
  }
  if (out.empty()) return in.usage_error("--out FILE is required");
  return command_export(in.common, in.first(), format, out);
}

}  // namespace cerebra::cli
