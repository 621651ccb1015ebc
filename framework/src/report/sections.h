// The report's sections, each drawn onto the page from what was read of the
// runs. One run gets every section; several runs get the comparison
// sections and then each run's own under a prefix.
#pragma once

#include <string>
#include <vector>

#include "cerebra/html_page.h"
#include "cerebra/report.h"
#include "run_record.h"

namespace cerebra::report {

// Ids of one run's sections start with `prefix` ("" for a single run,
// "run2-" and so on beside others); titles end with `suffix`. Beside other
// runs only a run's first section is in the page's contents list.
struct Scope {
  std::string prefix, suffix;
  std::string id(const std::string& name) const { return prefix + name; }
  std::string title(const std::string& text) const { return text + suffix; }
  bool listed(const std::string& name) const { return prefix.empty() || name == "summary"; }
  void open(html::Page& page, const std::string& name, const std::string& title) const {
    page.section(id(name), this->title(title), listed(name));
  }
};

void summary_section(html::Page& page, const RunRecord& run, const Scope& scope);
void data_section(html::Page& page, const RunRecord& run, const Scope& scope);
void curves_section(html::Page& page, const RunRecord& run, const Scope& scope);
void confusion_section(html::Page& page, const RunRecord& run, const Scope& scope);
void roc_section(html::Page& page, const RunRecord& run, const Scope& scope);
void reliability_section(html::Page& page, const RunRecord& run, const Scope& scope);
void per_class_section(html::Page& page, const RunRecord& run, const Scope& scope);
void gallery_section(html::Page& page, const RunRecord& run, const Scope& scope, const ReportOptions& options);

// Several runs: the study's table layout, then curves overlaid.
void comparison_section(html::Page& page, const std::vector<RunRecord>& runs);
void overlaid_curves_section(html::Page& page, const std::vector<RunRecord>& runs);
void overlaid_roc_section(html::Page& page, const std::vector<RunRecord>& runs);
void overlaid_reliability_section(html::Page& page, const std::vector<RunRecord>& runs);

// Shared by the sections: a figure to three decimals, or "—" for none.
std::string figure(double value);
// The classes whose ROC curve a run draws: the positive class alone for a
// binary run (the other's curve is its mirror image), every class otherwise.
std::vector<int> roc_classes(const RunSummary& summary);

}  // namespace cerebra::report
