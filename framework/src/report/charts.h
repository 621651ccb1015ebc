// Chart.js configurations for the report's plots, with axis titles and
// legends, colours that survive colour-blindness and greyscale print (the
// Okabe-Ito palette plus dash patterns) and no animation.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "curves.h"

namespace cerebra::report {

// The k-th colour of the palette (cycles).
std::string colour(std::size_t k);

struct Series {
  std::string label;
  std::vector<std::optional<double>> values;  // one per x label; none for a gap
  std::size_t colour = 0;
  bool dashed = false;
};

struct Axes {
  std::string x, y;
  bool log_y = false;
  std::optional<double> y_min{}, y_max{};
};

// Lines over shared x values (epochs).
nlohmann::json line_chart(const std::vector<double>& x, const std::vector<Series>& series, const Axes& axes);

struct XySeries {
  std::string label;
  std::vector<Point> points;
  std::size_t colour = 0;
  bool dashed = false;
  bool markers = false;  // dots at the points (reliability bins), not just a line
};

// Lines through their own points on [0, 1] x [0, 1] (ROC curves, reliability
// diagrams), with the diagonal drawn grey and dashed under `diagonal`.
nlohmann::json unit_square_chart(const std::vector<XySeries>& series, const Axes& axes, const std::string& diagonal);

}  // namespace cerebra::report
