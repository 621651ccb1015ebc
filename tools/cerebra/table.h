#pragma once

#include <string>
#include <vector>

namespace cerebra::cli {

// A plain text table: columns padded to their widest cell, the last column
// left ragged so long summaries do not push everything right.
class Table {
 public:
  explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  std::string render() const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

// A figure with four decimals, or "—" for NaN (not measured).
std::string format_number(double value);

}  // namespace cerebra::cli
