// The run report: one self-contained HTML file (html_page.h) that shows a run
// without reading JSON — summary and resolved pipeline, data, learning curves,
// confusion matrix, ROC curves, reliability diagram, per-class figures with
// their bootstrap intervals and a Grad-CAM gallery — or several runs side by
// side in the study's table layout with their curves overlaid. Written by
// `cerebra report` and, as report.html, at the end of every run. No torch here.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "cerebra/evaluate.h"
#include "cerebra/html_page.h"
#include "cerebra/registry.h"

namespace cerebra {

// A test image the gallery shows, and why it was chosen.
struct GalleryPick {
  std::string file;  // the sample id of predictions_test.csv
  int true_class = -1, predicted_class = -1;
  double confidence = 0;  // probability of the predicted class
  bool error() const { return true_class != predicted_class; }
};

// The gallery's images: the most confident errors first (at most
// `max_errors`), then for each class its most confident correct predictions
// (at most `correct_per_class`). Unlabelled rows are ignored.
std::vector<GalleryPick> select_gallery(const std::vector<Prediction>& predictions, std::size_t classes,
                                        std::size_t max_errors = 8, std::size_t correct_per_class = 3);

// Turns the chosen test images of a run into pictures: one per pick, in the
// picks' order, each a Grad-CAM overlay as PNG bytes; an empty caption is
// filled in from the pick (true and predicted class, confidence, file). An
// Error it throws is shown in the gallery's place and the rest of the report
// is still written.
using GalleryExplainer =
    std::function<std::vector<html::Picture>(const std::string& run_dir, const std::vector<GalleryPick>& picks)>;

// The explainer of this build. The seam for `cerebra explain`: until its
// library API is part of the build this returns an empty function, and the
// gallery says that explanations are not available.
GalleryExplainer gallery_explainer(const Registry& registry);

struct ReportOptions {
  GalleryExplainer explainer;  // none: the gallery lists its picks and says why there are no images
  std::size_t gallery_errors = 8;
  std::size_t gallery_correct_per_class = 3;
};

struct Report {
  std::string html;
  // Parts of the runs that could not be read (a corrupt metrics.jsonl line,
  // a malformed predictions file, ...), each naming the file and the problem.
  // The report shows the rest and says so where the part would have been.
  std::vector<std::string> problems;
};

// The report of one run, or of several side by side. Error naming the folder
// or file when a run directory is missing or has no readable summary.json.
Report build_report(const std::vector<std::string>& run_dirs, const ReportOptions& options = {});

}  // namespace cerebra
