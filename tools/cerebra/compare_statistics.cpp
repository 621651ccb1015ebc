#include "compare_statistics.h"

#include <cmath>
#include <filesystem>
#include <sstream>
#include <utility>

#include <fmt/format.h>

#include "cerebra/error.h"
#include "cerebra/run_directory.h"
#include "table.h"

namespace cerebra::cli {

namespace {

// An image file named by its canonical path, so that runs that reached the
// same dataset through "../shared/datasets" and "/work/shared/datasets" pair
// up (relative ids resolve against the current folder, where `cerebra run`
// resolved them too). Ids that are not files (synthetic images) stay as is.
std::string image_key(const std::string& id) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(id, error)) return id;
  const auto canonical = std::filesystem::weakly_canonical(std::filesystem::absolute(id, error), error);
  return error ? id : canonical.string();
}

// (image id, classified correctly) for each test image of a run.
std::vector<std::pair<std::string, bool>> test_outcomes(const std::string& run_dir) {
  const RunDirectory run = RunDirectory::open(run_dir);
  if (!run.has_test_predictions()) throw Error(run_dir + ": no test predictions (" + run.test_predictions_file() + ")");
  const RunSummary summary = run.read_summary();
  std::vector<std::pair<std::string, bool>> outcomes;
  for (const auto& prediction : run.read_test_predictions(summary.classes)) {
    outcomes.emplace_back(image_key(prediction.file), prediction.label >= 0 && prediction.predicted == prediction.label);
  }
  return outcomes;
}

std::string format_p(double p) { return p < 0.0001 ? "<0.0001" : fmt::format("{:.4f}", p); }

std::string format_signed(double value) { return fmt::format("{:+.4f}", value); }

std::string describe_run(const ComparisonRow& row) { return row.model + " (" + row.run + ")"; }

}  // namespace

std::vector<PairedTestAgainstFirst> paired_tests_against_first(const std::vector<ComparisonRow>& rows) {
  std::vector<PairedTestAgainstFirst> tests;
  if (rows.size() < 2) return tests;
  std::vector<std::pair<std::string, bool>> reference;
  std::string reference_problem;
  try {
    reference = test_outcomes(rows[0].run);
  } catch (const std::exception& error) {
    reference_problem = "the first run: " + brief(error);
  }
  for (std::size_t i = 1; i < rows.size(); ++i) {
    PairedTestAgainstFirst test;
    test.second = i;
    if (!reference_problem.empty()) {
      test.skipped = reference_problem;
      tests.push_back(std::move(test));
      continue;
    }
    try {
      const auto paired = statistics::pair_outcomes(reference, test_outcomes(rows[i].run));
      if (!paired.mismatch.empty()) {
        test.skipped = "test sets differ (" + paired.mismatch + ")";
      } else if (paired.first_correct.empty()) {
        test.skipped = "no test images";
      } else {
        test.result = statistics::compare_paired(paired.first_correct, paired.second_correct);
      }
    } catch (const std::exception& error) {
      test.skipped = brief(error);
    }
    tests.push_back(std::move(test));
  }
  return tests;
}

bool marked_not_significant(const std::vector<PairedTestAgainstFirst>& tests, std::size_t index) {
  for (const auto& test : tests) {
    if (test.second == index) return test.result && !test.result->significant();
  }
  return false;
}

std::string markdown_row(const std::vector<std::string>& cells) {
  std::string line = "|";
  for (const auto& cell : cells) {
    std::string escaped;
    for (char c : cell) escaped += c == '|' ? std::string("\\|") : std::string(1, c);
    line += " " + escaped + " |";
  }
  return line + "\n";
}

std::string paired_tests_text(const std::vector<ComparisonRow>& rows,
                              const std::vector<PairedTestAgainstFirst>& tests, const std::string& format) {
  if (tests.empty()) return "";
  std::ostringstream out;
  const bool markdown = format == "markdown";
  const std::vector<std::string> header{"Model",     "Run", "Images", "b", "c", "McNemar p", "Accuracy difference",
                                        "95% interval"};
  std::vector<std::vector<std::string>> cells;
  const statistics::PairedComparison* any = nullptr;
  bool any_marked = false;
  for (const auto& test : tests) {
    if (!test.result) continue;
    const auto& result = *test.result;
    any = &result;
    const bool mark = !result.significant();
    any_marked = any_marked || mark;
    cells.push_back({rows[test.second].model, rows[test.second].run, std::to_string(result.images),
                     std::to_string(result.only_first_correct), std::to_string(result.only_second_correct),
                     format_p(result.mcnemar_p),
                     format_signed(result.difference) + (mark ? std::string(" ") + kNotSignificantMark : ""),
                     "[" + format_signed(result.interval.low) + ", " + format_signed(result.interval.high) + "]"});
  }
  out << "\n";
  if (!cells.empty()) {
    out << "Each run against the first, " << describe_run(rows[0]) << ", on the same test images:\n\n";
    if (markdown) {
      out << markdown_row(header) << "|---|---|---:|---:|---:|---:|---:|---|\n";
      for (const auto& line : cells) out << markdown_row(line);
    } else {
      Table table(header);
      for (auto& line : cells) table.add(line);
      out << table.render();
    }
    out << "\n"
        << "b: test images only the first run classified correctly; c: only this run. McNemar p: exact\n"
        << "two-sided test on b and c. Accuracy difference: this run's minus the first's; "
        << fmt::format("{:.0f}", any->confidence * 100) << "% interval: paired bootstrap\n"
        << "(" << any->resamples << " resamples of the test images, the same for both runs, seed " << any->seed
        << "), percentiles.\n";
    if (any_marked) {
      out << kNotSignificantMark << " not significant at 0.05 (McNemar p >= 0.05): the accuracies do not differ "
          << "beyond chance.\n";
    }
  }
  bool gap = !cells.empty();  // one blank line between the table's notes and the runs not tested
  for (const auto& test : tests) {
    if (test.result) continue;
    out << (gap ? "\n" : "") << describe_run(rows[test.second]) << ": not tested against the first run: "
        << test.skipped << "\n";
    gap = false;
  }
  return out.str();
}

nlohmann::json paired_tests_json(const std::vector<ComparisonRow>& rows,
                                 const std::vector<PairedTestAgainstFirst>& tests) {
  nlohmann::json out = {{"reference", rows.empty() ? "" : rows[0].run}, {"comparisons", nlohmann::json::array()}};
  for (const auto& test : tests) {
    nlohmann::json entry = {{"run", rows[test.second].run}};
    if (!test.result) {
      entry["skipped"] = test.skipped;
    } else {
      const auto& result = *test.result;
      entry.update({{"images", result.images},
                    {"b", result.only_first_correct},
                    {"c", result.only_second_correct},
                    {"both_correct", result.both_correct},
                    {"both_wrong", result.both_wrong},
                    {"mcnemar_p", result.mcnemar_p},
                    {"first_accuracy", result.first_accuracy},
                    {"accuracy", result.second_accuracy},
                    {"difference", result.difference},
                    {"interval", {result.interval.low, result.interval.high}},
                    {"confidence", result.confidence},
                    {"resamples", result.resamples},
                    {"seed", result.seed},
                    {"significant", result.significant()}});
    }
    out["comparisons"].push_back(std::move(entry));
  }
  return out;
}

}  // namespace cerebra::cli
