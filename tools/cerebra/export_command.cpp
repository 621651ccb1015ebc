// `cerebra export`: a run's model for Python, and its model card.
#include <iostream>

#include "cerebra/error.h"
#include "cerebra/export.h"
#include "cerebra/host.h"
#include "commands.h"

namespace cerebra::cli {

int command_export(const CommonOptions& common, const std::string& run_dir, const std::string& format,
                   const std::string& out) {
  int exit_code = kOk;
  auto host = open_host(common, true, exit_code);
  if (!host) return exit_code;
  try {
    ExportResult result = export_run(run_dir, host->registry(), format, out);
    std::cout << "exported " << result.tensors << " tensors (" << format << "): " << result.file << "\n"
              << "model card: " << result.model_card << "\n";
    if (!result.python_module.empty() && format != "torchscript") {
      std::cout << "loads into: " << result.python_module << " (strict)\n";
    }
  } catch (const std::exception&) {
    return run_failure("export", run_dir);
  }
  return kOk;
}

}  // namespace cerebra::cli
