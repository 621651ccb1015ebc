// Explanations of a trained run's predictions: Grad-CAM and Grad-CAM++ heat
// maps at the Grad-CAM layer each architecture declares
// (ArchitectureInfo::gradcam_layer), on the image as the model saw it and
// carried back onto the original. No torch here (framework/src/explain has
// the implementation); `cerebra explain` and reports call it.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "cerebra/evaluate.h"

namespace cerebra {

enum class CamMethod { GradCam, GradCamPlusPlus };

// "gradcam" or "gradcam++"; anything else is an Error listing both.
CamMethod parse_cam_method(const std::string& name);
std::string to_string(CamMethod method);

struct ExplainOptions {
  CamMethod method = CamMethod::GradCam;
  // The class whose evidence the map shows: one of the run's class names, or
  // "" for each image's predicted class.
  std::string target_class;
};

// One image explained.
struct Explanation {
  std::string file;
  std::string error;  // why the image could not be explained (the other fields are then empty), or ""
  int predicted = -1;             // the predicted class
  float probability = 0;          // its probability
  int explained = -1;             // the class the map is for
  float explained_probability = 0;
  cv::Mat original;    // the decoded image, 8-bit BGR
  cv::Mat model_view;  // the preprocessed image the model saw, 8-bit BGR (float pixels min-max rescaled)
  cv::Mat cam;         // the heat map, CV_32F at the model's input size, in [0, 1] (peak 1 unless all zero)
  cv::Point2d peak;    // the map's maximum, in model-input pixels
  // The map on the original image (CV_32F, its size; zero where the
  // preprocessing cropped the image away), the peak there, and the share of
  // the map's energy inside the head mask (head_mask.h, the `crop_brain`
  // stage's settings). Empty when a preprocessing stage cannot say where it
  // moves pixels (Transform::placement) or, for the share, when no head
  // outline is found; `note` then says which.
  cv::Mat cam_on_original;
  std::optional<cv::Point2d> peak_original;
  std::optional<double> head_energy_share;
  std::string note;
};

// The index of class `name` among `classes`; an unknown name is an Error
// listing the classes, with the closest one suggested.
int class_index(const std::vector<std::string>& classes, const std::string& name);

// Explains image files, in the order given, with the run's best checkpoint
// and preprocessing. A file that cannot be read or preprocessed gets its
// `error` set and the others are still explained. Throws Error, naming the
// architecture, when it declares no Grad-CAM layer or its model does not
// implement the cut there (ClassifierModel::forward_to_gradcam_layer), and
// for an unknown options.target_class.
std::vector<Explanation> explain_images(TrainedRun& run, const std::vector<std::string>& files,
                                        const ExplainOptions& options = {});

// `cam` (CV_32F in [0, 1], resized to the image when it differs) as a JET
// colour map blended over `image` (8-bit gray or BGR): 8-bit BGR.
cv::Mat overlay(const cv::Mat& image, const cv::Mat& cam, double opacity = 0.45);

// The bytes of a PNG file holding `image` (8-bit), e.g. for a data: URL in an
// HTML page; Error when OpenCV cannot encode it.
std::vector<unsigned char> encode_png(const cv::Mat& image);

// An explanation's overlay as PNG bytes: on the image the model saw, or
// (on_original) on the original image. Error for an explanation with an
// error, or without a map on the original when on_original is asked for.
std::vector<unsigned char> overlay_png(const Explanation& explanation, bool on_original);

}  // namespace cerebra
