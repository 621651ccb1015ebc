#include "cerebra/html_page.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

#include "cerebra/error.h"
#include "web_assets.h"

namespace cerebra::html {

using nlohmann::json;

namespace {

// Readable on a laptop (one column, at most ~70 characters of prose per
// line, tables that scroll sideways rather than squeeze) and on paper (no
// navigation, no background tints lost to "print backgrounds: off" that carry
// meaning without text, figures kept whole on a page).
const char* kStyle = R"css(
:root { --ink: #1a1a1a; --muted: #555; --rule: #d0d0d0; --accent: #0b5cad; --notice: #fff4d6; }
* { box-sizing: border-box; }
html { color: var(--ink); background: #fff; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       margin: 0 auto; padding: 1.5rem 2rem 4rem; max-width: 72rem; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; }
h2 { font-size: 1.3rem; margin: 2.2rem 0 .6rem; padding-bottom: .2rem; border-bottom: 2px solid var(--rule); }
h3 { font-size: 1.05rem; margin: 1.4rem 0 .4rem; }
p { max-width: 48rem; margin: .4rem 0 .8rem; }
nav.contents { font-size: .92rem; margin: .8rem 0 1.2rem; display: flex; flex-wrap: wrap; gap: .2rem 1rem; }
nav.contents a { color: var(--accent); text-decoration: none; white-space: nowrap; }
nav.contents a:hover { text-decoration: underline; }
.notice { background: var(--notice); border-left: 4px solid #d9a400; padding: .5rem .8rem; max-width: 48rem; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1.2rem; margin: .4rem 0 1rem; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.table-wrap { overflow-x: auto; margin: .4rem 0 1.2rem; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
.table-caption { color: var(--muted); font-size: .92rem; margin: .8rem 0 .3rem; }
th, td { border: 1px solid var(--rule); padding: .25rem .6rem; text-align: left; vertical-align: top; }
thead th { background: #f2f2f2; }
td.num { text-align: right; }
pre { background: #f6f6f6; border: 1px solid var(--rule); padding: .6rem .8rem; overflow-x: auto;
      font-size: .85rem; line-height: 1.35; max-height: 18rem; }
figure { margin: .6rem 0 1.4rem; }
figcaption { color: var(--muted); font-size: .9rem; max-width: 48rem; margin-top: .3rem; }
.chart { position: relative; height: 20rem; max-width: 52rem; }
.gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(11rem, 1fr)); gap: .8rem; }
.gallery figure { margin: 0; }
img { max-width: 100%; height: auto; image-rendering: auto; }
.gallery img { width: 100%; border: 1px solid var(--rule); }
footer { margin-top: 3rem; color: var(--muted); font-size: .85rem; }
@media print {
  @page { margin: 14mm; }
  body { font-size: 10.5pt; padding: 0; max-width: none; }
  nav.contents { display: none; }
  h2 { break-after: avoid; page-break-after: avoid; }
  figure, table, .chart, dl.facts { break-inside: avoid; page-break-inside: avoid; }
  .table-caption { break-after: avoid; page-break-after: avoid; }
  .table-wrap { overflow: visible; }
  pre { max-height: none; white-space: pre-wrap; }
  .chart { height: 16rem; max-width: 100%; }
  .gallery { grid-template-columns: repeat(4, 1fr); }
  thead th, td { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  a { color: inherit; text-decoration: none; }
}
)css";

bool valid_id(const std::string& id) {
  return !id.empty() && std::isalpha(static_cast<unsigned char>(id[0])) &&
         std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
         });
}

bool looks_numeric(const std::string& text) {
  if (text.empty()) return false;
  char* end = nullptr;
  std::strtod(text.c_str(), &end);
  return end != text.c_str() && (*end == '\0' || *end == '%');
}

// JSON placed inside <script>: "<" only occurs inside strings, where \u003c
// means the same, so no "</script>" in a caption can end the block early.
std::string script_safe_json(const json& value) {
  std::string text = value.dump();
  std::string out;
  out.reserve(text.size());
  for (char c : text) out += c == '<' ? std::string("\\u003c") : std::string(1, c);
  return out;
}

// A script's text inside <script>...</script>: "</script" would end the element
// early; in JavaScript it can only sit in a string, regex or comment, where
// "<\/script" means the same.
std::string inline_script(std::string_view code) {
  std::string out(code);
  for (std::size_t at = 0; (at = out.find("</script", at)) != std::string::npos; at += 2) out.replace(at, 2, "<\\/");
  return "<script>" + out + "\n</script>\n";
}

std::string render_cell(const Cell& cell) {
  const char* tag = cell.header ? "th" : "td";
  std::string attributes;
  if (!cell.header && looks_numeric(cell.text)) attributes += " class=\"num\"";
  if (!cell.title.empty()) attributes += " title=\"" + escape(cell.title) + "\"";
  if (cell.shade >= 0) {
    // A blue ramp; text turns white where the tint is dark so it stays legible.
    const double s = std::clamp(cell.shade, 0.0, 1.0);
    const int r = static_cast<int>(std::lround(255 - s * (255 - 11)));
    const int g = static_cast<int>(std::lround(255 - s * (255 - 92)));
    const int b = static_cast<int>(std::lround(255 - s * (255 - 173)));
    attributes += fmt::format(" style=\"background:rgb({},{},{});color:{}\"", r, g, b, s > 0.55 ? "#fff" : "#1a1a1a");
  }
  return fmt::format("<{0}{1}>{2}</{0}>", tag, attributes, escape(cell.text));
}

std::string figure_html(const Picture& picture) {
  return "<figure><img src=\"" + png_data_uri(picture.png) + "\" alt=\"" + escape(picture.caption) +
         "\"><figcaption>" + escape(picture.caption) + "</figcaption></figure>";
}

}  // namespace

const char* content_security_policy() {
  return "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
         "font-src data:; base-uri 'none'; form-action 'none'";
}

std::string escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string base64(std::string_view bytes) {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned v = static_cast<unsigned char>(bytes[i]) << 16 | static_cast<unsigned char>(bytes[i + 1]) << 8 |
                       static_cast<unsigned char>(bytes[i + 2]);
    for (int shift : {18, 12, 6, 0}) out += alphabet[(v >> shift) & 63];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
    if (rest == 2) v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += rest == 2 ? alphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string png_data_uri(std::string_view png) {
  static const std::string_view signature("\x89PNG\r\n\x1a\n", 8);
  if (png.substr(0, 8) != signature) {
    throw Error(fmt::format("html page: an image of {} bytes is not a PNG (no PNG signature)", png.size()));
  }
  return "data:image/png;base64," + base64(png);
}

Page::Page(std::string title) : title_(std::move(title)) {}

void Page::claim_id(const std::string& id) {
  if (!valid_id(id)) {
    throw Error("html page: id '" + id + "' must start with a letter and hold only a-z, 0-9 and '-'");
  }
  if (std::find(ids_.begin(), ids_.end(), id) != ids_.end()) throw Error("html page: id '" + id + "' used twice");
  ids_.push_back(id);
}

void Page::close_section() {
  if (in_section_) body_ += "</section>\n";
  in_section_ = false;
}

Page& Page::section(const std::string& id, const std::string& title, bool in_contents) {
  claim_id(id);
  close_section();
  body_ += "<section id=\"" + id + "\">\n<h2>" + escape(title) + "</h2>\n";
  sections_.emplace_back(id, title);
  if (in_contents) contents_.emplace_back(id, title);
  in_section_ = true;
  return *this;
}

Page& Page::subheading(const std::string& text) {
  body_ += "<h3>" + escape(text) + "</h3>\n";
  return *this;
}

Page& Page::paragraph(const std::string& text) {
  body_ += "<p>" + escape(text) + "</p>\n";
  return *this;
}

Page& Page::notice(const std::string& text) {
  body_ += "<p class=\"notice\">" + escape(text) + "</p>\n";
  return *this;
}

Page& Page::facts(const std::vector<std::pair<std::string, std::string>>& items) {
  body_ += "<dl class=\"facts\">\n";
  for (const auto& [term, value] : items) body_ += "<dt>" + escape(term) + "</dt><dd>" + escape(value) + "</dd>\n";
  body_ += "</dl>\n";
  return *this;
}

Page& Page::table(const Table& table) {
  // The caption as a paragraph above the table: a <caption> is only as wide as its table.
  if (!table.caption.empty()) body_ += "<p class=\"table-caption\">" + escape(table.caption) + "</p>\n";
  body_ += "<div class=\"table-wrap\"><table>\n";
  if (!table.header.empty()) {
    body_ += "<thead><tr>";
    for (const auto& title : table.header) body_ += "<th>" + escape(title) + "</th>";
    body_ += "</tr></thead>\n";
  }
  body_ += "<tbody>\n";
  for (const auto& row : table.rows) {
    body_ += "<tr>";
    for (const auto& cell : row) body_ += render_cell(cell);
    body_ += "</tr>\n";
  }
  body_ += "</tbody></table></div>\n";
  return *this;
}

Page& Page::preformatted(const std::string& text) {
  body_ += "<pre>" + escape(text) + "</pre>\n";
  return *this;
}

Page& Page::picture(const Picture& picture) {
  body_ += figure_html(picture) + "\n";
  return *this;
}

Page& Page::gallery(const std::vector<Picture>& pictures) {
  body_ += "<div class=\"gallery\">\n";
  for (const auto& picture : pictures) body_ += figure_html(picture) + "\n";
  body_ += "</div>\n";
  return *this;
}

Page& Page::chart(const std::string& id, const json& config, const std::string& caption) {
  claim_id(id);
  if (!config.is_object() || !config.contains("type") || !config.contains("data")) {
    throw Error("html page: chart '" + id + "' needs a Chart.js configuration with \"type\" and \"data\"");
  }
  charts_[id] = config;
  body_ += "<figure><div class=\"chart\"><canvas id=\"" + id + "\" data-chart role=\"img\" aria-label=\"" +
           escape(caption) + "\"></canvas></div><figcaption>" + escape(caption) + "</figcaption></figure>\n";
  return *this;
}

std::string Page::render() const {
  std::string out = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  out += "<meta http-equiv=\"Content-Security-Policy\" content=\"" + std::string(content_security_policy()) + "\">\n";
  out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  out += "<title>" + escape(title_) + "</title>\n<style>" + std::string(kStyle) + "</style>\n</head>\n<body>\n";
  out += "<h1>" + escape(title_) + "</h1>\n";
  if (!contents_.empty()) {
    out += "<nav class=\"contents\">";
    for (const auto& [id, title] : contents_) out += "<a href=\"#" + id + "\">" + escape(title) + "</a>";
    out += "</nav>\n";
  }
  out += body_;
  if (in_section_) out += "</section>\n";
  if (!charts_.empty()) {
    out += "<script type=\"application/json\" id=\"cerebra-charts\">" + script_safe_json(charts_) + "</script>\n";
    out += inline_script(assets::chart_library());
    out += inline_script(assets::page_script());
  }
  out += "</body>\n</html>\n";
  return out;
}

}  // namespace cerebra::html
