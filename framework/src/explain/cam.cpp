#include "cam.h"

#include <algorithm>

#include <opencv2/imgproc.hpp>

#include "../data/planar.h"

namespace cerebra::detail {

namespace {

// Per-channel weights of the activation (1 x K x h x w) from the gradient of
// the class score with respect to it.
torch::Tensor channel_weights(const torch::Tensor& activation, const torch::Tensor& gradient, CamMethod method) {
  if (method == CamMethod::GradCam) return gradient.mean({2, 3}, /*keepdim=*/true);
  // Grad-CAM++ (Chattopadhay et al. 2018) with the exponential score's closed
  // form, as pytorch-grad-cam computes it: alpha = g^2 / (2 g^2 + sum(A) g^3).
  const auto g2 = gradient.pow(2), g3 = gradient.pow(3);
  const auto sum_activation = activation.sum({2, 3}, /*keepdim=*/true);
  auto alpha = g2 / (2 * g2 + sum_activation * g3 + 1e-7);
  alpha = torch::where(gradient != 0, alpha, torch::zeros_like(alpha));
  return (torch::relu(gradient) * alpha).sum({2, 3}, /*keepdim=*/true);
}

cv::Mat to_mat(const torch::Tensor& map) {
  auto cpu = map.to(torch::kCPU, torch::kFloat).contiguous();
  cv::Mat view(static_cast<int>(cpu.size(0)), static_cast<int>(cpu.size(1)), CV_32F, cpu.data_ptr<float>());
  return view.clone();
}

// The layer's map drawn onto the input: bilinear between cell centres (as a
// resize does), placed where the layer's cells lie; it fades out over half a
// cell beyond the outer centres (stretching edge cells to the border would
// draw stripes the layer never saw).
cv::Mat on_input(const cv::Mat& map, const GradcamExtent& extent, const cv::Size& input) {
  const double cell_x = (extent.right - extent.left) / map.cols, cell_y = (extent.bottom - extent.top) / map.rows;
  const cv::Matx23d cells_to_input(cell_x, 0, extent.left + 0.5 * cell_x - 0.5, 0, cell_y,
                                   extent.top + 0.5 * cell_y - 0.5);
  cv::Mat out;
  cv::warpAffine(map, out, cv::Mat(cells_to_input), input, cv::INTER_LINEAR, cv::BORDER_CONSTANT, cv::Scalar(0));
  return out;
}

}  // namespace

torch::Tensor image_input(const cv::Mat& preprocessed, const torch::Device& device) {
  std::vector<float> planes(static_cast<std::size_t>(3) * preprocessed.rows * preprocessed.cols);
  write_planar(preprocessed, 3, planes.data());
  return torch::from_blob(planes.data(), {1, 3, preprocessed.rows, preprocessed.cols}, torch::kFloat)
      .to(device, /*non_blocking=*/false, /*copy=*/true);
}

CamResult compute_cam(ClassifierModel& model, const torch::Tensor& input, int target, CamMethod method) {
  torch::AutoGradMode gradients(true);
  model.eval();
  // The activation becomes a leaf: the gradient is needed with respect to it
  // only, so nothing below the Grad-CAM layer is differentiated.
  const auto activation = model.forward_to_gradcam_layer(input).detach().to(torch::kFloat).requires_grad_(true);
  const auto logits = model.forward_from_gradcam_layer(activation).to(torch::kFloat);
  CamResult result;
  const auto probabilities = torch::softmax(logits.detach(), 1)[0].to(torch::kCPU).contiguous();
  result.probabilities.assign(probabilities.data_ptr<float>(), probabilities.data_ptr<float>() + probabilities.numel());
  result.predicted = static_cast<int>(std::max_element(result.probabilities.begin(), result.probabilities.end()) -
                                      result.probabilities.begin());
  result.target = target >= 0 ? target : result.predicted;
  const auto gradient = torch::autograd::grad({logits[0][result.target]}, {activation})[0];
  torch::NoGradGuard no_grad;
  auto cam = torch::relu((channel_weights(activation, gradient, method) * activation).sum(1, /*keepdim=*/true));
  const cv::Size input_size(static_cast<int>(input.size(3)), static_cast<int>(input.size(2)));
  result.cam = on_input(to_mat(cam[0][0]), model.gradcam_extent(input.size(2), input.size(3)), input_size);
  double peak = 0;
  cv::minMaxLoc(result.cam, nullptr, &peak);
  if (peak > 0) result.cam /= peak;
  return result;
}

}  // namespace cerebra::detail
