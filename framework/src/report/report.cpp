// Assembles the report: reads the runs, lays out the sections, and keeps
// going past a section that fails (a damaged file, an explainer error),
// noting the problem on the page and in Report::problems.
#include "cerebra/report.h"

#include <fmt/format.h>

#include "cerebra/error.h"
#include "cerebra/version.h"
#include "sections.h"

namespace cerebra {

namespace report {
namespace {

// Runs one section; a failure (an Error, or a summary value of an unexpected
// JSON type) becomes a notice where the section's content would have been,
// and a problem of the report.
template <class Draw>
void guarded(html::Page& page, std::vector<std::string>& problems, const std::string& what, Draw draw) {
  try {
    draw();
  } catch (const std::exception& error) {
    page.notice(what + " could not be drawn: " + error.what());
    problems.push_back(what + ": " + error.what());
  }
}

void run_sections(html::Page& page, const RunRecord& run, const Scope& scope, const ReportOptions& options,
                  std::vector<std::string>& problems) {
  const std::string where = run.path + ": ";
  guarded(page, problems, where + "summary", [&] { summary_section(page, run, scope); });
  guarded(page, problems, where + "data", [&] { data_section(page, run, scope); });
  guarded(page, problems, where + "learning curves", [&] { curves_section(page, run, scope); });
  guarded(page, problems, where + "confusion matrix", [&] { confusion_section(page, run, scope); });
  guarded(page, problems, where + "ROC curves", [&] { roc_section(page, run, scope); });
  guarded(page, problems, where + "reliability diagram", [&] { reliability_section(page, run, scope); });
  guarded(page, problems, where + "per-class figures", [&] { per_class_section(page, run, scope); });
  guarded(page, problems, where + "Grad-CAM gallery", [&] { gallery_section(page, run, scope, options); });
}

void comparison_sections(html::Page& page, const std::vector<RunRecord>& runs, std::vector<std::string>& problems) {
  guarded(page, problems, "comparison", [&] { comparison_section(page, runs); });
  guarded(page, problems, "overlaid learning curves", [&] { overlaid_curves_section(page, runs); });
  guarded(page, problems, "overlaid ROC curves", [&] { overlaid_roc_section(page, runs); });
  guarded(page, problems, "overlaid reliability diagrams", [&] { overlaid_reliability_section(page, runs); });
}

}  // namespace
}  // namespace report

Report build_report(const std::vector<std::string>& run_dirs, const ReportOptions& options) {
  if (run_dirs.empty()) throw Error("report: no run directory given");
  std::vector<report::RunRecord> runs;
  for (const auto& dir : run_dirs) runs.push_back(report::load_run(dir));

  Report result;
  for (const auto& run : runs) {
    for (const auto& problem : run.problems) result.problems.push_back(problem.second);
  }
  const bool single = runs.size() == 1;
  html::Page page(single ? "Cerebra run report: " + runs[0].label
                         : fmt::format("Cerebra report: {} runs side by side", runs.size()));
  if (single) {
    report::run_sections(page, runs[0], {}, options, result.problems);
  } else {
    report::comparison_sections(page, runs, result.problems);
    for (std::size_t r = 0; r < runs.size(); ++r) {
      const report::Scope scope{fmt::format("run{}-", r + 1), " — " + runs[r].label};
      report::run_sections(page, runs[r], scope, options, result.problems);
    }
  }
  page.paragraph(fmt::format("Written by cerebra {} (cerebra report). Charts drawn with Chart.js (MIT licence), "
                             "embedded in this file; the page makes no network request.",
                             CEREBRA_VERSION_STRING));
  result.html = page.render();
  return result;
}

}  // namespace cerebra
