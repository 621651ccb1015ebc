#pragma once

#include <string>
#include <vector>

namespace cerebra::cli {

// Documented exit codes (see docs/cli.md).
enum ExitCode { kOk = 0, kRunFailed = 1, kBadUsage = 2, kPluginFailure = 3 };

struct CommonOptions {
  std::vector<std::string> plugin_paths;
  bool strict = false;
  bool json = false;
};

int command_list(const CommonOptions& common, const std::string& kind);
int command_inspect(const CommonOptions& common, const std::string& name);
int command_validate(const CommonOptions& common, const std::string& pipeline,
                     const std::vector<std::string>& overrides);
int command_run(const CommonOptions& common, const std::string& pipeline,
                const std::vector<std::string>& overrides, const std::string& resume_dir);

}  // namespace cerebra::cli
