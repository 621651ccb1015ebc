// A run's summary and its data: what was trained, on what, and how the
// images were split.
#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "cerebra/comparison.h"
#include "sections.h"

namespace cerebra::report {

using nlohmann::json;

std::string figure(double value) { return std::isfinite(value) ? fmt::format("{:.3f}", value) : "—"; }

namespace {

std::string duration(double seconds) {
  const long total = std::lround(seconds);
  return total >= 3600 ? fmt::format("{}h {:02}m {:02}s", total / 3600, total / 60 % 60, total % 60)
                       : fmt::format("{}m {:02}s", total / 60, total % 60);
}

std::string classes_text(const RunSummary& summary) {
  std::string text;
  for (std::size_t c = 0; c < summary.classes.size(); ++c) {
    text += (c ? ", " : "") + summary.classes[c];
    if (static_cast<int>(c) == summary.positive_class) text += " (positive)";
  }
  return text;
}

std::string test_figures(const RunSummary& summary) {
  if (!summary.test_metrics.is_object()) return "none (status " + summary.status + ")";
  std::string text;
  for (const auto& [name, report] : summary.test_metrics.items()) {
    if (name == "confusion_matrix") continue;  // its headline is the accuracy again
    text += (text.empty() ? "" : ", ") + name + " " + figure(headline(report));
  }
  return text;
}

}  // namespace

void summary_section(html::Page& page, const RunRecord& run, const Scope& scope) {
  const RunSummary& s = run.summary;
  const json& raw = s.raw;
  scope.open(page, "summary", "Run summary");
  std::string status = s.status + (s.message.empty() ? "" : " — " + s.message);
  std::string best = s.best_epoch > 0 ? fmt::format("epoch {} ({} = {})", s.best_epoch, raw.value("monitor", "?"),
                                                    figure(raw.value("best_value", std::nan(""))))
                                      : "none";
  page.facts({{"Run", run.path},
              {"Status", status},
              {"Model", display_model(s.model) + " (" + s.model + ")"},
              {"Dataset", s.dataset},
              {"Classes", classes_text(s)},
              {"Epochs completed", std::to_string(s.epochs_completed)},
              {"Best epoch", best},
              {"Starting weights", run.weights},
              {"Device", fmt::format("{}, {} thread(s), seed {}", raw.value("device", "?"), raw.value("threads", 0),
                                     raw.value("seed", 0))},
              {"Duration", raw.contains("seconds") ? duration(raw.value("seconds", 0.0)) : "?"},
              {"Test figures", test_figures(s)}});
  page.subheading("Resolved pipeline (pipeline.toml, every default filled in)");
  if (!run.problem("pipeline").empty()) page.notice("Not available: " + run.problem("pipeline"));
  else page.preformatted(run.pipeline_text);
}

namespace {

void split_table(html::Page& page, const RunRecord& run) {
  std::vector<std::string> classes = run.summary.classes;
  std::map<std::string, std::map<std::string, std::size_t>> counts;  // class -> split -> images
  for (const auto& row : run.split) {
    if (std::find(classes.begin(), classes.end(), row.class_name) == classes.end()) classes.push_back(row.class_name);
    counts[row.class_name][row.split] += 1;
  }
  html::Table table{"Images per class in each split (split.csv)", {"class", "train", "val", "test", "total"}, {}};
  std::map<std::string, std::size_t> totals;
  for (const auto& name : classes) {
    std::vector<html::Cell> line{name};
    std::size_t all = 0;
    for (const char* split : {"train", "val", "test"}) {
      const std::size_t n = counts[name][split];
      line.emplace_back(std::to_string(n));
      totals[split] += n;
      all += n;
    }
    line.emplace_back(std::to_string(all));
    table.rows.push_back(std::move(line));
  }
  table.rows.push_back({"all", std::to_string(totals["train"]), std::to_string(totals["val"]),
                        std::to_string(totals["test"]), std::to_string(run.split.size())});
  page.table(table);
  const json split = run.summary.raw.value("split", json::object());
  if (split.value("hold_out", "none") == "source") {
    page.paragraph(fmt::format("Source-held-out split ([split] hold_out = \"source\", {} source clusters): each "
                               "class's test images come from source clusters its training images do not contain "
                               "(split.csv's source column; docs/data.md). The test figures measure robustness to a "
                               "change of source, not accuracy on the training sources.",
                               split.value("source_clusters", 0)));
  }
}

void duplicates(html::Page& page, const RunRecord& run) {
  const json split = run.summary.raw.value("split", json::object());
  const auto groups = split.value("duplicate_groups", 0), files = split.value("duplicate_files", 0);
  page.subheading("Duplicates");
  page.paragraph(groups == 0 ? "No two images had the same content."
                             : fmt::format("{} group(s) of byte-identical images ({} files) were each kept within one "
                                           "split, so no test image has a copy in training.",
                                           groups, files));
  std::map<std::string, std::vector<const SplitRow*>> members;
  for (const auto& row : run.split) {
    if (!row.group.empty()) members[row.group].push_back(&row);
  }
  html::Table table{"Duplicate groups (split.csv's group column): files with the same content",
                    {"group", "split", "files"}, {}};
  for (const auto& [group, rows] : members) {
    if (rows.size() < 2) continue;
    std::string names;
    for (const SplitRow* row : rows) names += (names.empty() ? "" : "; ") + row->file + " (" + row->class_name + ")";
    table.rows.push_back({group, rows.front()->split, names});
  }
  if (!table.rows.empty()) page.table(table);
}

void skipped(html::Page& page, const RunRecord& run) {
  page.subheading("Skipped files");
  if (!run.problem("skipped").empty()) {
    page.notice("Not available: " + run.problem("skipped"));
    return;
  }
  if (run.skipped.empty()) {
    page.paragraph("No image was skipped as unreadable.");
    return;
  }
  constexpr std::size_t kShown = 50;
  html::Table table{fmt::format("{} image(s) skipped as unreadable (skipped.csv){}", run.skipped.size(),
                                run.skipped.size() > kShown ? fmt::format("; the first {}", kShown) : ""),
                    {"file", "reason"}, {}};
  for (std::size_t i = 0; i < std::min(kShown, run.skipped.size()); ++i) {
    table.rows.push_back({run.skipped[i].id, run.skipped[i].reason});
  }
  page.table(table);
}

}  // namespace

void data_section(html::Page& page, const RunRecord& run, const Scope& scope) {
  scope.open(page, "data", "Data");
  if (!run.problem("split").empty()) page.notice("Split counts not available: " + run.problem("split"));
  else split_table(page, run);
  duplicates(page, run);
  skipped(page, run);
}

}  // namespace cerebra::report
