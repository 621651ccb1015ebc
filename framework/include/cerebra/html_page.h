// A self-contained HTML page: one file that opens offline and makes no request
// to any network address, readable on a laptop screen and in print. The run
// report and the data audit build their pages with it. No torch here.
//
// Everything a page holds travels inside the file: the style sheet, images as
// data: URIs made from PNG bytes, charts as JSON drawn by the embedded charting
// library. A Content-Security-Policy meta forbids every fetch (default-src
// 'none'), so a page that tried to load anything would fail visibly in the
// browser's console rather than quietly phone out.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace cerebra::html {

// Text made safe for element content and quoted attribute values (& < > " ').
std::string escape(std::string_view text);

// RFC 4648 base64 of arbitrary bytes.
std::string base64(std::string_view bytes);

// "data:image/png;base64,..." for PNG bytes; Error when the bytes are not a PNG.
std::string png_data_uri(std::string_view png);

// One table cell: text (escaped when rendered), optionally shaded 0..1 (a
// heat-map background, e.g. a confusion matrix) and marked as a header cell.
struct Cell {
  Cell(std::string text = {}) : text(std::move(text)) {}  // NOLINT: cells are written as plain strings
  Cell(const char* text) : text(text) {}                   // NOLINT
  std::string text;
  double shade = -1;  // < 0: no shading
  bool header = false;
  std::string title;  // tooltip, e.g. the exact figure behind a rounded one
};

struct Table {
  std::string caption;
  std::vector<std::string> header;
  std::vector<std::vector<Cell>> rows;
};

// A picture with its caption, e.g. one Grad-CAM overlay of the gallery.
struct Picture {
  std::string png;      // PNG bytes
  std::string caption;  // plain text
};

class Page {
 public:
  explicit Page(std::string title);

  // Starts a section (<section id=...><h2>title</h2>) that the following
  // content goes into. Ids are unique, lower-case letters, digits and '-'
  // (they are link targets in the contents list); Error otherwise. A long
  // page lists only its main sections in the contents (`in_contents`).
  Page& section(const std::string& id, const std::string& title, bool in_contents = true);
  Page& subheading(const std::string& text);
  Page& paragraph(const std::string& text);
  // A visible notice, e.g. that a section's data is not available and why.
  Page& notice(const std::string& text);
  // Term/value pairs (a run's summary).
  Page& facts(const std::vector<std::pair<std::string, std::string>>& items);
  Page& table(const Table& table);
  Page& preformatted(const std::string& text);
  Page& picture(const Picture& picture);
  // Pictures side by side, wrapping to the page width.
  Page& gallery(const std::vector<Picture>& pictures);
  // A chart: `config` is a Chart.js configuration (type, data, options) drawn
  // into a canvas by the embedded library; `caption` says how to read it.
  // Ids follow the section rule and share its namespace.
  Page& chart(const std::string& id, const nlohmann::json& config, const std::string& caption);

  const std::vector<std::pair<std::string, std::string>>& sections() const { return sections_; }
  std::size_t chart_count() const { return charts_.size(); }
  // The whole document. The charting library is embedded only when the page has a chart.
  std::string render() const;

 private:
  void claim_id(const std::string& id);
  void close_section();

  std::string title_;
  std::string body_;
  bool in_section_ = false;
  std::vector<std::pair<std::string, std::string>> sections_;  // id, title
  std::vector<std::pair<std::string, std::string>> contents_;  // the ones the contents list links to
  std::vector<std::string> ids_;
  nlohmann::json charts_ = nlohmann::json::object();  // canvas id -> Chart.js config
};

// The Content-Security-Policy every page carries: no network request of any
// kind; inline scripts and styles and data: images only.
const char* content_security_policy();

}  // namespace cerebra::html
