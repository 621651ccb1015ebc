// explain_images() and the overlay helpers of explain.h.
#include "cerebra/explain.h"

#include <fmt/format.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "explainer.h"

namespace cerebra {

CamMethod parse_cam_method(const std::string& name) {
  if (name == "gradcam") return CamMethod::GradCam;
  if (name == "gradcam++") return CamMethod::GradCamPlusPlus;
  throw Error("unknown method '" + name + "'; expected gradcam or gradcam++");
}

std::string to_string(CamMethod method) { return method == CamMethod::GradCam ? "gradcam" : "gradcam++"; }

int class_index(const std::vector<std::string>& classes, const std::string& name) {
  for (std::size_t i = 0; i < classes.size(); ++i) {
    if (classes[i] == name) return static_cast<int>(i);
  }
  throw Error(fmt::format("unknown class '{}'{}; the run's classes: {}", name, did_you_mean(name, classes),
                          join(classes)));
}

namespace detail {

void require_gradcam_layer(const TrainedRun::Impl& run) {
  if (run.architecture->info().gradcam_layer.empty()) {
    throw Error(fmt::format("architecture '{}' declares no Grad-CAM layer (ArchitectureInfo::gradcam_layer), "
                            "so its predictions cannot be explained",
                            run.pipeline.model.name));
  }
}

CamResult run_cam(TrainedRun::Impl& run, const torch::Tensor& input, int target, CamMethod method) {
  try {
    return compute_cam(*run.model, input, target, method);
  } catch (const GradcamUnsupported& error) {
    throw GradcamUnsupported(fmt::format("architecture '{}' declares Grad-CAM layer '{}' but {}", run.pipeline.model.name,
                            run.architecture->info().gradcam_layer, error.what()));
  }
}

Explanation assemble_explanation(const std::string& file, PreparedImage prepared, const CamResult& cam,
                                 const HeadMaskOptions& head_options) {
  Explanation out;
  out.file = file;
  out.predicted = cam.predicted;
  out.probability = cam.probabilities[static_cast<std::size_t>(cam.predicted)];
  out.explained = cam.target;
  out.explained_probability = cam.probabilities[static_cast<std::size_t>(cam.target)];
  out.original = display_image(prepared.original);
  out.model_view = display_image(prepared.preprocessed);
  out.cam = cam.cam;
  cv::Point peak;
  cv::minMaxLoc(cam.cam, nullptr, nullptr, nullptr, &peak);
  out.peak = peak;
  if (!prepared.placement) {
    out.note = "preprocess stage " + prepared.unplaced_stage + " cannot say where it moves pixels";
    return out;
  }
  const cv::Matx23d& placement = *prepared.placement;
  cv::warpAffine(cam.cam, out.cam_on_original, cv::Mat(placement), prepared.original.size(),
                 cv::INTER_LINEAR | cv::WARP_INVERSE_MAP, cv::BORDER_CONSTANT, cv::Scalar(0));
  cv::Matx23d back;
  cv::invertAffineTransform(placement, back);
  out.peak_original = back * cv::Vec3d(out.peak.x, out.peak.y, 1.0);
  const HeadMask head = head_mask(out.original, head_options);
  if (!head.found) {
    out.note = "no head outline found";
    return out;
  }
  out.head_energy_share = energy_share(cam.cam, mask_in_model_view(head.mask, placement, cam.cam.size()));
  return out;
}

}  // namespace detail

std::vector<Explanation> explain_images(TrainedRun& run, const std::vector<std::string>& files,
                                        const ExplainOptions& options) {
  TrainedRun::Impl& impl = detail::TrainedRunAccess::of(run);
  detail::require_gradcam_layer(impl);
  const int target = options.target_class.empty() ? -1 : class_index(impl.class_names, options.target_class);
  const HeadMaskOptions head_options = detail::run_head_mask_options(impl.preprocess);
  const detail::FileDataset files_dataset(impl.class_names);
  std::vector<Explanation> out;
  for (const auto& file : files) {
    detail::PreparedImage prepared;
    detail::CamResult cam;
    try {
      if (std::string problem = detail::path_problem(file); !problem.empty()) throw Error(problem);
      prepared = detail::prepare_image(files_dataset, {file, -1, ""}, impl.preprocess);
      cam = detail::run_cam(impl, detail::image_input(prepared.preprocessed, impl.device), target, options.method);
    } catch (const GradcamUnsupported&) {
      throw;
    } catch (const std::exception& error) {
      Explanation failed;
      failed.file = file;
      // The message names the file, as predict's do (decoding errors already do).
      const std::string message = brief(error);
      failed.error = message.rfind(file, 0) == 0 ? message : file + ": " + message;
      out.push_back(std::move(failed));
      continue;
    }
    out.push_back(detail::assemble_explanation(file, std::move(prepared), cam, head_options));
  }
  return out;
}

cv::Mat overlay(const cv::Mat& image, const cv::Mat& cam, double opacity) {
  cv::Mat base;
  if (image.channels() == 1) cv::cvtColor(image, base, cv::COLOR_GRAY2BGR);
  else base = image;
  cv::Mat scaled = cam;
  if (cam.size() != base.size()) cv::resize(cam, scaled, base.size(), 0, 0, cv::INTER_LINEAR);
  cv::Mat heat8, colours;
  scaled.convertTo(heat8, CV_8U, 255.0);
  cv::applyColorMap(heat8, colours, cv::COLORMAP_JET);
  cv::Mat out;
  cv::addWeighted(base, 1.0 - opacity, colours, opacity, 0.0, out);
  return out;
}

std::vector<unsigned char> encode_png(const cv::Mat& image) {
  std::vector<unsigned char> bytes;
  if (image.empty() || !cv::imencode(".png", image, bytes)) throw Error("cannot encode the image as PNG");
  return bytes;
}

std::vector<unsigned char> overlay_png(const Explanation& explanation, bool on_original) {
  if (!explanation.error.empty()) throw Error(explanation.file + ": not explained: " + explanation.error);
  if (on_original && explanation.cam_on_original.empty()) {
    throw Error(explanation.file + ": no map on the original image (" + explanation.note + ")");
  }
  return encode_png(on_original ? overlay(explanation.original, explanation.cam_on_original)
                                : overlay(explanation.model_view, explanation.cam));
}

}  // namespace cerebra
