// `cerebra report`: writes the HTML report of one run or several.
#include <iostream>

#include "cerebra/error.h"
#include "cerebra/files.h"
#include "cerebra/host.h"
#include "cerebra/report.h"
#include "cerebra/run_directory.h"
#include "commands.h"

namespace cerebra::cli {

int command_report(const CommonOptions& common, const std::vector<std::string>& run_dirs, const std::string& out) {
  // Plugins are loaded for the gallery's explanations, which open the run's model.
  int exit_code = kOk;
  auto host = open_host(common, true, exit_code);
  if (!host) return exit_code;
  ReportOptions options;
  options.explainer = gallery_explainer(host->registry());
  Report report;
  std::string file = out;
  try {
    report = build_report(run_dirs, options);
    // The file is replaced whole or not at all, so a failed write keeps any earlier report.
    if (out.empty()) {
      RunDirectory run = RunDirectory::open(run_dirs[0]);
      run.write_report(report.html);
      file = run.report_file();
    } else {
      write_file_atomically(out, report.html);
    }
  } catch (const std::exception& error) {
    std::cerr << "cerebra report: " << brief(error) << "\n";
    return kRunFailed;
  }
  for (const auto& problem : report.problems) std::cerr << "cerebra report: incomplete: " << problem << "\n";
  std::cout << file << "\n";
  if (!report.problems.empty()) {
    std::cerr << "cerebra report: " << file << " written without the part(s) named above\n";
    return kRunFailed;
  }
  return kOk;
}

}  // namespace cerebra::cli
