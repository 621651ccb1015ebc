// The HTML page shell: escaping, the no-network policy, sections, tables,
// images and charts, on the page's text (the browser test is test_report_browser).
#include <gtest/gtest.h>

#include <regex>

#include <nlohmann/json.hpp>

#include "cerebra/error.h"
#include "cerebra/html_page.h"

using namespace cerebra;
using nlohmann::json;

namespace {

// The 67-byte 1x1 transparent PNG.
const std::string kPng = std::string("\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\r"
                                     "IDATx\x9c" "c\xf8\x0f\x04\0\x09\xfb\x03\xfd\xe3U\xf2\x9c\0\0\0\0IEND\xae" "B`\x82",
                                     67);

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

json line_chart() {
  return {{"type", "line"}, {"data", {{"labels", {1, 2}}, {"datasets", {{{"label", "loss"}, {"data", {0.5, 0.4}}}}}}}};
}

}  // namespace

TEST(HtmlPage, EscapesEveryMarkupCharacter) {
  EXPECT_EQ(html::escape(R"(<a href="x">Tom & 'Jerry'</a>)"),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;");
  html::Page page("<script>alert(1)</script>");
  page.section("data", "A & B").paragraph("<img src=x onerror=alert(1)>").facts({{"<k>", "\"v\""}});
  page.table({"<cap>", {"<h>"}, {{"<td>"}}});
  const std::string text = page.render();
  EXPECT_EQ(text.find("<script>alert"), std::string::npos);
  EXPECT_EQ(text.find("<img src=x"), std::string::npos);
  EXPECT_NE(text.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(text.find("A &amp; B"), std::string::npos);
  EXPECT_NE(text.find("&lt;cap&gt;"), std::string::npos);
}

TEST(HtmlPage, ForbidsEveryNetworkRequest) {
  html::Page page("t");
  page.section("s", "S").chart("c", line_chart(), "caption");
  const std::string text = page.render();
  const std::string policy = html::content_security_policy();
  EXPECT_EQ(policy.rfind("default-src 'none';", 0), 0u);
  EXPECT_NE(policy.find("img-src data:"), std::string::npos);
  EXPECT_EQ(policy.find("http"), std::string::npos);
  EXPECT_NE(text.find("<meta http-equiv=\"Content-Security-Policy\" content=\"" + policy + "\">"), std::string::npos);
  // Nothing is referenced from outside the file: no src/href to a URL, no link or import.
  EXPECT_FALSE(std::regex_search(text, std::regex(R"((src|href)\s*=\s*["']?(https?:|//))", std::regex::icase)));
  EXPECT_EQ(text.find("<link"), std::string::npos);
  EXPECT_EQ(text.find("@import"), std::string::npos);
}

TEST(HtmlPage, SectionsHaveIdsAndAContentsList) {
  html::Page page("Report");
  page.section("summary", "Run summary").paragraph("one");
  page.section("data", "Data").paragraph("two");
  const std::string text = page.render();
  EXPECT_NE(text.find("<section id=\"summary\">"), std::string::npos);
  EXPECT_NE(text.find("<section id=\"data\">"), std::string::npos);
  EXPECT_NE(text.find("<a href=\"#data\">Data</a>"), std::string::npos);
  EXPECT_EQ(count(text, "<section"), count(text, "</section>"));
  ASSERT_EQ(page.sections().size(), 2u);
  EXPECT_EQ(page.sections()[1].first, "data");
  page.section("detail", "A detail", false);
  const std::string listed = page.render();
  EXPECT_NE(listed.find("<section id=\"detail\">"), std::string::npos);
  EXPECT_EQ(listed.find("href=\"#detail\""), std::string::npos) << "a section left out of the contents";
  EXPECT_THROW(page.section("data", "again"), Error);
  EXPECT_THROW(page.section("Has Space", "x"), Error);
  EXPECT_THROW(page.section("", "x"), Error);
}

TEST(HtmlPage, TablesAlignNumbersAndShadeCells) {
  html::Table table{"counts", {"class", "n"}, {}};
  html::Cell shaded("12");
  shaded.shade = 1.0;
  shaded.title = "12 of 12";
  html::Cell label("glioma");
  label.header = true;
  table.rows.push_back({label, shaded});
  table.rows.push_back({"meningioma", "0.25"});
  html::Page page("t");
  page.table(table);
  const std::string text = page.render();
  EXPECT_NE(text.find("<th>glioma</th>"), std::string::npos);
  EXPECT_NE(text.find("<td class=\"num\" title=\"12 of 12\" style=\"background:rgb(11,92,173);color:#fff\">12</td>"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("<td class=\"num\">0.25</td>"), std::string::npos);
  EXPECT_NE(text.find("<td>meningioma</td>"), std::string::npos);
}

TEST(HtmlPage, ImagesAreDataUrisOfTheirPngBytes) {
  EXPECT_EQ(html::base64(""), "");
  EXPECT_EQ(html::base64("f"), "Zg==");
  EXPECT_EQ(html::base64("fo"), "Zm8=");
  EXPECT_EQ(html::base64("foo"), "Zm9v");
  EXPECT_EQ(html::base64("foobar"), "Zm9vYmFy");
  EXPECT_EQ(html::png_data_uri(kPng).rfind("data:image/png;base64,iVBORw0KGgo", 0), 0u);
  EXPECT_THROW(html::png_data_uri("GIF89a"), Error);

  html::Page page("t");
  page.section("gallery", "Gallery").gallery({{kPng, "glioma <true>"}, {kPng, "second"}}).picture({kPng, "one"});
  const std::string text = page.render();
  EXPECT_EQ(count(text, "<img src=\"data:image/png;base64,"), 3u);
  EXPECT_NE(text.find("<figcaption>glioma &lt;true&gt;</figcaption>"), std::string::npos);
}

TEST(HtmlPage, ChartsCarryTheirConfigurationAndTheLibraryOnlyWhenUsed) {
  html::Page plain("t");
  plain.section("s", "S").paragraph("no charts");
  EXPECT_EQ(plain.render().find("<script"), std::string::npos);

  html::Page page("t");
  json config = line_chart();
  config["data"]["datasets"][0]["label"] = "</script><b>";
  page.section("curves", "Curves").chart("loss-chart", config, "Loss per epoch");
  EXPECT_EQ(page.chart_count(), 1u);
  const std::string text = page.render();
  EXPECT_NE(text.find("<canvas id=\"loss-chart\" data-chart"), std::string::npos);
  EXPECT_NE(text.find("<figcaption>Loss per epoch</figcaption>"), std::string::npos);
  EXPECT_NE(text.find("Chart.js v"), std::string::npos);           // the embedded library
  EXPECT_NE(text.find("data-chart-error"), std::string::npos);     // the page script
  // The label's "</script>" cannot end the configuration block early.
  EXPECT_NE(text.find("\\u003c/script>\\u003cb>"), std::string::npos);
  EXPECT_EQ(count(text, "</script>"), count(text, "<script"));
  EXPECT_THROW(page.chart("loss-chart", config, "again"), Error);
  EXPECT_THROW(page.chart("bare", json{{"type", "line"}}, "no data"), Error);
}

TEST(HtmlPage, PrintsReadably) {
  const std::string text = html::Page("t").render();
  EXPECT_NE(text.find("@media print"), std::string::npos);
  EXPECT_NE(text.find("break-inside: avoid"), std::string::npos);
  EXPECT_NE(text.find("<meta charset=\"utf-8\">"), std::string::npos);
}
