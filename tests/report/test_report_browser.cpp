// Reports of real tiny runs opened in headless Chromium: every section and
// chart present, charts drawn, images decoded, no console message (a
// script error or a blocked network request would print one), and a
// screenshot that is not blank. Skipped when Chromium is absent; tools/test.sh
// installs it.
#include <gtest/gtest.h>

#include <regex>
#include <sstream>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "cerebra/files.h"
#include "cerebra/report.h"
#include "cerebra/run_directory.h"
#include "report_test_support.h"

namespace fs = std::filesystem;
using namespace cerebra;
using namespace cerebra::testing;

namespace {

#define REQUIRE_CHROMIUM(variable)                                                                      \
  const std::string variable = find_chromium();                                                         \
  if (variable.empty()) GTEST_SKIP() << "chromium is not installed (tools/test.sh installs Debian's chromium)"

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// The page's console messages in Chromium's log (our pages print none).
std::string console_lines(const std::string& log) {
  std::string lines;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) {
    if (line.find(":CONSOLE") != std::string::npos) lines += line + "\n";
  }
  return lines;
}

// The text inside <section id="ID">...</section> of a DOM, without tags.
std::string section_text(const std::string& dom, const std::string& id) {
  const auto start = dom.find("<section id=\"" + id + "\">");
  if (start == std::string::npos) return "";
  const auto end = dom.find("</section>", start);
  return std::regex_replace(dom.substr(start, end - start), std::regex("<[^>]*>"), " ");
}

// Opens the page, checks what every rendered report must satisfy, and returns the DOM.
std::string rendered_dom(const std::string& chromium, const fs::path& page, const TempDir& work) {
  BrowserRun run = open_headless(chromium, page, work, "--dump-dom");
  EXPECT_EQ(run.exit_code, 0) << run.log;
  EXPECT_EQ(console_lines(run.log), "") << "the page printed to the console";
  const std::string& dom = run.output;
  // The page script's verdict, in the attributes of <html> (docs: web/page.js).
  const std::string root = dom.substr(0, dom.find('>', dom.find("<html")) + 1);
  EXPECT_EQ(root.find("data-chart-error"), std::string::npos) << root;
  const std::size_t canvases = count(dom, "<canvas id=");
  EXPECT_NE(root.find("data-charts=\"" + std::to_string(canvases) + "\""), std::string::npos)
      << canvases << " canvases; " << root;
  return dom;
}

void expect_sections(const std::string& dom, const std::vector<std::string>& ids) {
  for (const auto& id : ids) {
    const std::string text = section_text(dom, id);
    EXPECT_GT(std::regex_replace(text, std::regex("\\s+"), " ").size(), 60u) << "section " << id << " is missing or empty";
  }
}

const std::vector<std::string> kRunSections{"summary", "data",      "curves",   "confusion",
                                            "roc",     "reliability", "per-class", "gallery"};

}  // namespace

TEST(ReportBrowser, TheReportAtTheEndOfARunRendersEverySection) {
  REQUIRE_CHROMIUM(chromium);
  TempDir dir;
  const fs::path run = tiny_run(dir, "a", 2);
  const fs::path page = run / "report.html";
  ASSERT_TRUE(fs::exists(page)) << "the run wrote no report.html";
  const std::string dom = rendered_dom(chromium, page, dir);
  expect_sections(dom, kRunSections);
  EXPECT_EQ(count(dom, "<canvas id="), 5u);  // loss, figures, learning rate, ROC, reliability
  EXPECT_NE(section_text(dom, "gallery").find("not available in this build"), std::string::npos);
  EXPECT_NE(section_text(dom, "per-class").find("bootstrap 95% interval"), std::string::npos);

  // A screenshot of the first screenful: text and drawn charts, not a blank page.
  const std::string shot = dir.file("report.png");
  BrowserRun screenshot = open_headless(chromium, page, dir, "--window-size=1280,2400 --screenshot=" + shot);
  ASSERT_EQ(screenshot.exit_code, 0) << screenshot.log;
  cv::Mat image = cv::imread(shot, cv::IMREAD_COLOR);
  ASSERT_FALSE(image.empty()) << "no screenshot at " << shot;
  EXPECT_EQ(image.cols, 1280);
  cv::Mat gray, mean, deviation;
  cv::cvtColor(image, gray, cv::COLOR_BGR2GRAY);
  cv::meanStdDev(gray, mean, deviation);
  EXPECT_GT(deviation.at<double>(0), 20.0) << "the screenshot is nearly uniform";
  // The charts' first colour (#0072B2) is drawn: canvases rendered, not just text.
  cv::Mat blue;
  cv::inRange(image, cv::Scalar(158, 94, 0), cv::Scalar(198, 134, 30), blue);
  EXPECT_GT(cv::countNonZero(blue), 500) << "no chart line in the screenshot";
}

namespace {

// Stands in for Grad-CAM: a synthetic overlay per pick (a bright disc on a
// gradient), encoded as PNG, as the explain module will hand them over.
std::vector<html::Picture> synthetic_overlays(const std::string&, const std::vector<GalleryPick>& picks) {
  std::vector<html::Picture> pictures;
  for (std::size_t i = 0; i < picks.size(); ++i) {
    cv::Mat image(48, 48, CV_8UC3);
    for (int y = 0; y < 48; ++y) image.row(y).setTo(cv::Scalar(4 * y, 60, 200 - 4 * y));
    cv::circle(image, {12 + static_cast<int>(i % 4) * 8, 24}, 8, cv::Scalar(0, 0, 255), cv::FILLED);
    std::vector<unsigned char> png;
    cv::imencode(".png", image, png);
    pictures.push_back({std::string(png.begin(), png.end()), ""});
  }
  return pictures;
}

}  // namespace

TEST(ReportBrowser, TheGalleryShowsEachExplanationItIsGiven) {
  REQUIRE_CHROMIUM(chromium);
  TempDir dir;
  const fs::path run = tiny_run(dir, "a", 1);
  ReportOptions options;
  options.explainer = synthetic_overlays;
  Report report = build_report({run.string()}, options);
  EXPECT_TRUE(report.problems.empty());
  const fs::path page = dir.file("gallery.html");
  write_file_atomically(page.string(), report.html);

  const std::string dom = rendered_dom(chromium, page, dir);
  const std::string gallery = section_text(dom, "gallery");
  const std::size_t picks = select_gallery(RunDirectory::open(run.string()).read_test_predictions({"no", "yes"}), 2).size();
  ASSERT_GT(picks, 0u);
  EXPECT_EQ(count(dom, "<img src=\"data:image/png;base64,"), picks);
  EXPECT_NE(dom.substr(0, 200).find("data-images=\"" + std::to_string(picks) + "/" + std::to_string(picks) + "\""), std::string::npos)
      << "not every image decoded";
  EXPECT_NE(gallery.find("Correct predictions, per class"), std::string::npos);
  EXPECT_EQ(gallery.find("not available in this build"), std::string::npos);
}

TEST(ReportBrowser, SeveralRunsSideBySideWithTheirCurvesOverlaid) {
  REQUIRE_CHROMIUM(chromium);
  TempDir dir;
  const fs::path a = tiny_run(dir, "a", 2), b = tiny_run(dir, "b", 1);
  const std::string page = dir.file("both.html");
  auto result = run_command(cli() + " report " + a.string() + " " + b.string() + " --out " + page);
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const std::string dom = rendered_dom(chromium, page, dir);
  expect_sections(dom, {"comparison", "curves", "roc", "reliability"});
  for (const char* column : {"Model", "Accuracy", "Precision", "Sensitivity", "F1-Score", "Specificity"}) {
    EXPECT_NE(section_text(dom, "comparison").find(column), std::string::npos) << column;
  }
  std::vector<std::string> per_run;
  for (const auto& id : kRunSections) per_run.push_back("run1-" + id), per_run.push_back("run2-" + id);
  expect_sections(dom, per_run);
  // Overlaid: loss, monitored figure, learning rate, one ROC (the positive class), reliability; then 5 per run.
  EXPECT_EQ(count(dom, "<canvas id="), 15u);
}
