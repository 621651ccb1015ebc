// Test-time augmentation variants (cerebra/tta.h, tta.h).
#include "tta.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "cerebra/error.h"
#include "cerebra/tta.h"

namespace cerebra {

const std::vector<std::string>& tta_variants() {
  static const std::vector<std::string> names{"flip", "flip_vertical", "rotate+10", "rotate-10", "zoom+10"};
  return names;
}

void check_tta_names(const std::vector<std::string>& names) {
  const auto& known = tta_variants();
  for (std::size_t i = 0; i < names.size(); ++i) {
    const std::string& name = names[i];
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      throw Error(fmt::format("unknown test-time augmentation '{}'{}; known: {} (or none)", name,
                              did_you_mean(name, known), join(known)));
    }
    if (std::find(names.begin(), names.begin() + static_cast<std::ptrdiff_t>(i), name) !=
        names.begin() + static_cast<std::ptrdiff_t>(i)) {
      throw Error("test-time augmentation '" + name + "' is listed twice");
    }
  }
}

std::vector<std::string> parse_tta_list(const std::string& text) {
  std::vector<std::string> names;
  if (text.empty() || text == "none") return names;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    names.push_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  check_tta_names(names);
  return names;
}

namespace detail {

namespace {

// Samples `input` through an affine map of normalised output coordinates to
// input coordinates (grid_sample's convention).
torch::Tensor warp(const torch::Tensor& input, double a, double b, double d, double e) {
  const auto n = input.size(0);
  auto theta = torch::tensor({a, b, 0.0, d, e, 0.0}, input.options().dtype(torch::kFloat))
                   .view({1, 2, 3})
                   .expand({n, 2, 3});
  auto grid = torch::nn::functional::affine_grid(theta, input.sizes(), /*align_corners=*/false);
  namespace F = torch::nn::functional;
  return F::grid_sample(input.to(torch::kFloat), grid,
                        F::GridSampleFuncOptions().mode(torch::kBilinear).padding_mode(torch::kBorder).align_corners(false))
      .to(input.scalar_type());
}

// Rotation by `degrees`, counter-clockwise as displayed (rows run down). The
// output pixel at (x, y) from the centre samples the input at the rotation
// back: x c - y s, x s + y c in pixels, so in normalised coordinates the
// off-diagonal terms carry the aspect ratio.
torch::Tensor rotate(const torch::Tensor& input, double degrees) {
  const double angle = degrees * 3.14159265358979323846 / 180.0;
  const double c = std::cos(angle), s = std::sin(angle);
  const double height = static_cast<double>(input.size(2)), width = static_cast<double>(input.size(3));
  return warp(input, c, -s * height / width, s * width / height, c);
}

torch::Tensor transform(const torch::Tensor& input, const std::string& name) {
  if (name == "flip") return input.flip({3});
  if (name == "flip_vertical") return input.flip({2});
  if (name == "rotate+10") return rotate(input, 10);
  if (name == "rotate-10") return rotate(input, -10);
  if (name == "zoom+10") return warp(input, 1 / 1.1, 0, 0, 1 / 1.1);
  throw Error(fmt::format("unknown test-time augmentation '{}'; known: {}", name, join(tta_variants())));
}

}  // namespace

torch::Tensor tta_variant(const torch::Tensor& input, const std::string& name) {
  torch::Tensor out = transform(input, name);
  // The model sees the variant in the memory format it sees the original in.
  const bool channels_last = input.dim() == 4 && !input.is_contiguous() &&
                             input.is_contiguous(torch::MemoryFormat::ChannelsLast);
  return channels_last ? out.contiguous(torch::MemoryFormat::ChannelsLast) : out;
}

}  // namespace detail

}  // namespace cerebra
