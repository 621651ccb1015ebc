// Sanity checks of a run's explanations. Model randomisation (Adebayo et al.,
// "Sanity Checks for Saliency Maps", NeurIPS 2018): the layer groups are
// re-initialised from the head down, cumulatively, and the maps recomputed;
// maps that stay alike do not depend on what the model learned. And, where the
// dataset knows where lesions are (Dataset::lesion_mask, the synthetic data),
// localisation: the share of map energy inside the lesion and the pointing
// game, each against chance. No torch here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "cerebra/explain.h"

namespace cerebra {

// Spearman's rank correlation of two maps of the same size (ties share their
// mean rank); 0 when either map is constant (no ranking to agree with).
double spearman_correlation(const cv::Mat& a, const cv::Mat& b);

// Mean structural similarity (Wang et al. 2004: 11x11 Gaussian window,
// sigma 1.5, K1 0.01, K2 0.03) of two maps in [0, 1] of the same size.
double structural_similarity(const cv::Mat& a, const cv::Mat& b);

// Localisation of maps against known lesions, over the images that have one.
// The pointing game (Zhang et al. 2018) counts a hit when the map's peak lies
// within 15 pixels of the lesion at 224x224: that share of the input's side.
constexpr double kPointingTolerance = 15.0 / 224.0;

struct LocalisationScore {
  std::size_t images = 0;        // images with a lesion inside the model's view
  double energy_in_lesion = 0;   // mean share of map energy inside the lesion
  double energy_chance = 0;      // mean lesion area share: a uniform map's energy_in_lesion
  double pointing_hits = 0;      // share of maps whose peak lies within the tolerance of the lesion
  double pointing_chance = 0;    // mean area share of the lesion grown by the tolerance: a random peak's hit rate
};

// The maps after randomising layer groups `groups` (head first).
struct RandomisationStep {
  std::vector<std::string> groups;
  double spearman = 0;  // mean over images, against the trained model's maps
  double ssim = 0;
  std::optional<LocalisationScore> localisation;
};

struct SanityOptions {
  CamMethod method = CamMethod::GradCam;
  std::string data;          // a folder of images instead of the run's test split
  std::size_t images = 64;   // at most this many, drawn with `seed`
  std::uint64_t seed = 7;    // image sample and the re-initialised weights
};

struct SanityReport {
  std::string source;        // "test split" or the folder
  std::size_t images = 0;    // images explained
  std::vector<std::string> skipped;  // "file: reason" for images that could not be explained
  std::optional<LocalisationScore> trained;  // the trained model's localisation, where lesions are known
  std::vector<RandomisationStep> steps;      // one per layer group, head first
};

// Runs both checks on a run. Every map of an image is for the same class: its
// true class where the data is labelled (the lesion's class, so localisation
// asks whether the evidence for the tumour lies on it), else the trained
// model's prediction. The run's model is restored afterwards. Throws
// Error as explain_images() does, and when no image could be explained.
SanityReport sanity_check(TrainedRun& run, const SanityOptions& options);

}  // namespace cerebra
