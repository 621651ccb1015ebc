// `cerebra compare`'s statistics: each run against the first on the same test
// images (McNemar's exact test, a paired bootstrap interval of the accuracy
// difference), read from the runs' eval/predictions_test.csv.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cerebra/comparison.h"
#include "cerebra/statistics.h"

namespace cerebra::cli {

// One run (rows[second]) against the first; `skipped` says why there is no
// result (the test sets differ, a run has no test predictions).
struct PairedTestAgainstFirst {
  std::size_t second = 0;
  std::optional<statistics::PairedComparison> result;
  std::string skipped;
};

// Nothing for fewer than two rows.
std::vector<PairedTestAgainstFirst> paired_tests_against_first(const std::vector<ComparisonRow>& rows);

// The mark a not-significant difference carries in the tables.
inline constexpr const char* kNotSignificantMark = "†";

// Whether rows[index]'s accuracy is marked: tested against the first run, not significant at 0.05.
bool marked_not_significant(const std::vector<PairedTestAgainstFirst>& tests, std::size_t index);

// "| a | b |" with '|' inside a cell escaped.
std::string markdown_row(const std::vector<std::string>& cells);

// The section printed after compare's table: "table" or "markdown".
std::string paired_tests_text(const std::vector<ComparisonRow>& rows,
                              const std::vector<PairedTestAgainstFirst>& tests, const std::string& format);

// {"reference", "comparisons": [{run, images, b, c, mcnemar_p, difference, interval, ...} or {run, skipped}]}.
nlohmann::json paired_tests_json(const std::vector<ComparisonRow>& rows,
                                 const std::vector<PairedTestAgainstFirst>& tests);

}  // namespace cerebra::cli
