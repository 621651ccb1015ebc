#include "charts.h"

namespace cerebra::report {

using nlohmann::json;

std::string colour(std::size_t k) {
  // Okabe & Ito: distinguishable with every common colour-vision deficiency.
  static const char* palette[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"};
  return palette[k % (sizeof palette / sizeof *palette)];
}

namespace {

json axis(const std::string& title) {
  return {{"title", {{"display", true}, {"text", title}, {"font", {{"size", 13}, {"weight", "bold"}}}}},
          {"grid", {{"color", "#e3e3e3"}}}};
}

json styled(json dataset, std::size_t k, bool dashed) {
  dataset["borderColor"] = colour(k);
  dataset["backgroundColor"] = colour(k);
  dataset["borderWidth"] = 2;
  if (dashed) dataset["borderDash"] = {6, 4};
  return dataset;
}

json options(const Axes& axes, json x, json y) {
  if (axes.y_min) y["min"] = *axes.y_min;
  if (axes.y_max) y["max"] = *axes.y_max;
  return {{"scales", {{"x", std::move(x)}, {"y", std::move(y)}}},
          {"plugins", {{"legend", {{"display", true}}}}},
          {"interaction", {{"mode", "nearest"}, {"intersect", false}}}};
}

}  // namespace

json line_chart(const std::vector<double>& x, const std::vector<Series>& series, const Axes& axes) {
  json datasets = json::array();
  for (const auto& s : series) {
    json values = json::array();
    for (const auto& v : s.values) values.push_back(v ? json(*v) : json(nullptr));
    datasets.push_back(styled({{"label", s.label}, {"data", values}, {"pointRadius", x.size() > 40 ? 0 : 3},
                               {"spanGaps", false}, {"tension", 0}},
                              s.colour, s.dashed));
  }
  json y = axis(axes.y);
  y["type"] = axes.log_y ? "logarithmic" : "linear";
  return {{"type", "line"},
          {"data", {{"labels", x}, {"datasets", datasets}}},
          {"options", options(axes, axis(axes.x), y)}};
}

json unit_square_chart(const std::vector<XySeries>& series, const Axes& axes, const std::string& diagonal) {
  json datasets = json::array();
  for (const auto& s : series) {
    json points = json::array();
    for (const auto& p : s.points) points.push_back({{"x", p.x}, {"y", p.y}});
    datasets.push_back(styled({{"label", s.label}, {"data", points}, {"showLine", true},
                               {"pointRadius", s.markers ? 4 : 0}, {"fill", false}},
                              s.colour, s.dashed));
  }
  if (!diagonal.empty()) {
    datasets.push_back({{"label", diagonal}, {"data", {{{"x", 0}, {"y", 0}}, {{"x", 1}, {"y", 1}}}},
                        {"showLine", true}, {"pointRadius", 0}, {"borderColor", "#888"},
                        {"backgroundColor", "#888"}, {"borderWidth", 1}, {"borderDash", {3, 3}}});
  }
  json x = axis(axes.x), y = axis(axes.y);
  for (json* a : {&x, &y}) {
    (*a)["type"] = "linear";
    (*a)["min"] = 0;
    (*a)["max"] = 1;
  }
  return {{"type", "scatter"}, {"data", {{"datasets", datasets}}}, {"options", options(axes, x, y)}};
}

}  // namespace cerebra::report
