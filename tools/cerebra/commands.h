#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace cerebra {
class Host;
}

namespace cerebra::cli {

// Documented exit codes (see docs/cli.md).
enum ExitCode { kOk = 0, kRunFailed = 1, kBadUsage = 2, kPluginFailure = 3 };

struct CommonOptions {
  std::vector<std::string> plugin_paths;
  bool strict = false;
  bool json = false;
};

// Loads plugins and reports failures: warnings normally (unless
// `quiet_failures`), fatal with --strict. Returns null (after printing, with
// `exit_code` set) when the command must stop.
std::unique_ptr<Host> open_host(const CommonOptions& common, bool quiet_failures, int& exit_code);

// Inside a catch block of a command working on a run: reports the exception
// being handled (a pipeline.toml that no longer validates lists each problem)
// and returns kRunFailed.
int run_failure(const std::string& verb, const std::string& run_dir);

int command_list(const CommonOptions& common, const std::string& kind);
int command_inspect(const CommonOptions& common, const std::string& name);
int command_validate(const CommonOptions& common, const std::string& pipeline,
                     const std::vector<std::string>& overrides);
// `cerebra run --nproc N` (N >= 2): this command line again as N local
// workers of one data-parallel job; their exit status (launch.cpp).
int launch_local_workers(int nproc);

int command_run(const CommonOptions& common, const std::string& pipeline,
                const std::vector<std::string>& overrides, const std::string& resume_dir);

struct EvalOptions {
  std::string split = "test";
  std::string data;  // a folder laid out like training data, instead of a split
  std::string device = "auto";
  std::optional<std::vector<std::string>> tta;  // --tta; unset: each run's own [evaluation] tta
  bool json = false;
};
// eval_command.cpp: one run, or an ensemble of several.
int command_eval(const CommonOptions& common, const std::vector<std::string>& run_dirs, const EvalOptions& options);

// "table", "csv" or "json" (predict); "table", "markdown" or "csv" (compare).
int command_predict(const CommonOptions& common, const std::string& run_dir,
                    const std::vector<std::string>& paths, const std::string& format,
                    const std::string& device);
int command_compare(const std::vector<std::string>& run_dirs, const std::string& format);
// `out` empty: the one run's report.html.
int command_report(const CommonOptions& common, const std::vector<std::string>& run_dirs, const std::string& out);

struct AuditCommandOptions {
  int near_threshold = -1;  // Hamming radius of the perceptual hash; -1: the audit's default
  int clusters = 0;                   // 0: chosen by silhouette
  std::size_t examples = 5;           // groups printed per finding
  std::string cache_dir = ".cache/cerebra";
  std::string html;                   // also write the page here
  std::vector<std::string> overrides; // --set section.key=value, applied to pipeline inputs
};
int command_audit(const CommonOptions& common, const std::vector<std::string>& inputs,
                  const AuditCommandOptions& options);

struct ExplainCommandOptions {
  std::string method = "gradcam";  // gradcam or gradcam++
  std::string target_class;        // "" for each image's predicted class
  std::string out;                 // "" for RUN_DIR/explain
  bool json = false;
  bool sanity = false;             // the sanity checks instead of images
  std::string data;                // --sanity on this folder instead of the test split
  std::size_t images = 64;         // --sanity: at most this many images
  std::string device = "auto";
};
// export_command.cpp: the run's best checkpoint as `format` (pth, safetensors, torchscript) at `out`.
int command_export(const CommonOptions& common, const std::string& run_dir, const std::string& format,
                   const std::string& out);

// explain_command.cpp
int command_explain(const CommonOptions& common, const std::string& run_dir, const std::vector<std::string>& paths,
                    const ExplainCommandOptions& options);

}  // namespace cerebra::cli
