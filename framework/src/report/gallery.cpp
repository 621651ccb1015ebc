// The Grad-CAM gallery: which test images it shows (the most confident errors
// first, then each class's most confident correct predictions) and how it
// shows them. The explanations themselves come through GalleryExplainer, so
// this file knows nothing of how a heat map is made.
#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include <opencv2/imgproc.hpp>

#include "cerebra/error.h"
#include "cerebra/evaluate.h"
#include "cerebra/explain.h"
#include "sections.h"

namespace cerebra {

namespace {

GalleryPick pick_of(const Prediction& p) {
  GalleryPick pick;
  pick.file = p.file;
  pick.true_class = p.label;
  pick.predicted_class = p.predicted;
  pick.confidence = p.predicted >= 0 && static_cast<std::size_t>(p.predicted) < p.probabilities.size()
                        ? p.probabilities[static_cast<std::size_t>(p.predicted)]
                        : 0.0;
  return pick;
}

void most_confident_first(std::vector<GalleryPick>& picks) {
  std::stable_sort(picks.begin(), picks.end(),
                   [](const GalleryPick& a, const GalleryPick& b) { return a.confidence > b.confidence; });
}

}  // namespace

std::vector<GalleryPick> select_gallery(const std::vector<Prediction>& predictions, std::size_t classes,
                                        std::size_t max_errors, std::size_t correct_per_class) {
  std::vector<GalleryPick> errors;
  std::vector<std::vector<GalleryPick>> correct(classes);
  for (const auto& p : predictions) {
    if (p.label < 0 || p.predicted < 0 || static_cast<std::size_t>(p.label) >= classes) continue;
    GalleryPick pick = pick_of(p);
    if (pick.error()) errors.push_back(pick);
    else correct[static_cast<std::size_t>(p.label)].push_back(pick);
  }
  most_confident_first(errors);
  errors.resize(std::min(errors.size(), max_errors));
  std::vector<GalleryPick> picks = errors;
  for (auto& of_class : correct) {
    most_confident_first(of_class);
    picks.insert(picks.end(), of_class.begin(), of_class.begin() + static_cast<std::ptrdiff_t>(
                                                                        std::min(of_class.size(), correct_per_class)));
  }
  return picks;
}

namespace {

// At most 256 pixels a side: a gallery of large scans would make the report
// tens of megabytes.
std::string small_png(const cv::Mat& image) {
  cv::Mat shown = image;
  const int longest = std::max(image.cols, image.rows);
  if (longest > 256) {
    const double scale = 256.0 / longest;
    cv::resize(image, shown, cv::Size(), scale, scale, cv::INTER_AREA);
  }
  const std::vector<unsigned char> png = encode_png(shown);
  return std::string(png.begin(), png.end());
}

}  // namespace

GalleryExplainer gallery_explainer(const Registry& registry) {
  // Grad-CAM of the predicted class on the original image (on the image the
  // model saw where a stage cannot say where it moves pixels); the test
  // images are sample ids of the run's dataset, so they load through it.
  return [&registry](const std::string& run_dir, const std::vector<GalleryPick>& picks) {
    TrainedRun run(run_dir, registry);
    std::vector<std::string> ids;
    for (const auto& pick : picks) ids.push_back(pick.file);
    ExplainOptions options;
    options.from_run_dataset = true;
    std::vector<GalleryPicture> pictures;
    for (const Explanation& e : explain_images(run, ids, options)) {
      if (!e.error.empty()) throw Error(e.error);
      const bool original = !e.cam_on_original.empty();
      pictures.push_back({{small_png(original ? overlay(e.original, e.cam_on_original) : overlay(e.model_view, e.cam)), ""},
                          e.head_energy_share.value_or(-1.0)});
    }
    return pictures;
  };
}

namespace report {

namespace {

std::string class_of(int c, const std::vector<std::string>& classes) {
  return c >= 0 && static_cast<std::size_t>(c) < classes.size() ? classes[static_cast<std::size_t>(c)] : "?";
}

std::string caption(const GalleryPick& pick, const std::vector<std::string>& classes) {
  const std::string file = std::filesystem::path(pick.file).filename().string();
  const std::string truth = class_of(pick.true_class, classes);
  return pick.error() ? fmt::format("{} predicted as {} (p = {:.2f}) · {}", truth,
                                    class_of(pick.predicted_class, classes), pick.confidence, file)
                      : fmt::format("{}, correct (p = {:.2f}) · {}", truth, pick.confidence, file);
}

void picks_table(html::Page& page, const std::vector<GalleryPick>& picks, const std::vector<std::string>& classes) {
  html::Table table{"The test images the gallery shows, in its order",
                    {"", "image", "true class", "predicted", "confidence"}, {}};
  for (const auto& pick : picks) {
    table.rows.push_back({pick.error() ? "error" : "correct", pick.file, class_of(pick.true_class, classes),
                          class_of(pick.predicted_class, classes), figure(pick.confidence)});
  }
  page.table(table);
}

// How much of the maps lies inside the head; most of it outside suggests the
// model learned the background, the skull or the collection (issue 11).
void shortcut_warning(html::Page& page, const std::vector<GalleryPicture>& explained) {
  double sum = 0;
  std::size_t known = 0;
  for (const auto& e : explained) {
    if (e.head_share >= 0) sum += e.head_share, ++known;
  }
  if (known == 0) return;
  const double mean = sum / known;
  page.paragraph(fmt::format("On these {} images, {:.0f}% of the map's energy lies inside the head outline on average.",
                             known, 100 * mean));
  if (mean < 0.5) {
    page.notice(fmt::format("Shortcut warning: most of the map's energy ({:.0f}%) lies outside the head. The model may "
                            "rely on the background, the skull or traits of the collection rather than the tumour; "
                            "check with `cerebra audit` and `cerebra explain --sanity`.",
                            100 * (1 - mean)));
  }
}

// The pictures the explainer made, errors and correct ones under their own headings.
void pictures(html::Page& page, const std::vector<GalleryPick>& picks, std::vector<html::Picture> made) {
  if (made.size() != picks.size()) {
    throw Error(fmt::format("the Grad-CAM gallery asked for {} explanation(s) and got {}", picks.size(), made.size()));
  }
  std::vector<html::Picture> errors, correct;
  for (std::size_t i = 0; i < picks.size(); ++i) (picks[i].error() ? errors : correct).push_back(std::move(made[i]));
  page.subheading("Most confident errors");
  if (errors.empty()) page.paragraph("The model made no error on the test split.");
  else page.gallery(errors);
  page.subheading("Correct predictions, per class");
  page.gallery(correct);
}

}  // namespace

void gallery_section(html::Page& page, const RunRecord& run, const Scope& scope, const ReportOptions& options) {
  scope.open(page, "gallery", "Grad-CAM gallery (test split)");
  if (run.predictions.empty()) {
    page.notice("Not available: the run has no test predictions to choose images from.");
    return;
  }
  const auto& classes = run.summary.classes;
  const auto picks = select_gallery(run.predictions, classes.size(), options.gallery_errors,
                                    options.gallery_correct_per_class);
  page.paragraph("Where the model looked: Grad-CAM heat maps over the test images it got wrong with the most "
                 "confidence, then over each class's most confident correct predictions. Attention on the lesion is "
                 "reassuring; attention on the skull, the background or a scanner artefact suggests a shortcut.");
  if (!options.explainer) {
    page.notice("No Grad-CAM explanations were made for this report, so the gallery lists the images it would "
                "explain instead of showing them.");
  } else {
    std::vector<GalleryPicture> explained = options.explainer(run.path, picks);
    shortcut_warning(page, explained);
    std::vector<html::Picture> made;
    for (std::size_t i = 0; i < explained.size(); ++i) {
      made.push_back(std::move(explained[i].picture));
      if (made[i].caption.empty() && i < picks.size()) made[i].caption = caption(picks[i], classes);
    }
    pictures(page, picks, std::move(made));
  }
  picks_table(page, picks, classes);
}

}  // namespace report
}  // namespace cerebra
