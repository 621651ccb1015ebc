// The Grad-CAM gallery: which test images it shows (the most confident errors
// first, then each class's most confident correct predictions) and how it
// shows them. The explanations themselves come through GalleryExplainer, so
// this file knows nothing of how a heat map is made.
#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "cerebra/error.h"
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

GalleryExplainer gallery_explainer(const Registry& registry) {
  // The seam for `cerebra explain` (issue 11): when its library API
  // (cerebra/explain.h) is part of the build, this returns a function that
  // explains the picks of a TrainedRun opened with `registry` and encodes
  // each overlay as PNG bytes. Until then there is nothing to call.
  (void)registry;
  return {};
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
    page.notice("Grad-CAM explanations are not available in this build (it does not include cerebra explain), so "
                "the gallery lists the images it would explain instead of showing them.");
  } else {
    std::vector<html::Picture> made = options.explainer(run.path, picks);
    for (std::size_t i = 0; i < made.size() && i < picks.size(); ++i) {
      if (made[i].caption.empty()) made[i].caption = caption(picks[i], classes);
    }
    pictures(page, picks, std::move(made));
  }
  picks_table(page, picks, classes);
}

}  // namespace report
}  // namespace cerebra
