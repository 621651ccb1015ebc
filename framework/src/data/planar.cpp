// Images of a pipeline turned into the float planes of a batch.
#include "planar.h"

#include <cstdint>
#include <cstring>

#include <fmt/format.h>
#include <opencv2/imgproc.hpp>

#include "cerebra/error.h"

namespace cerebra::detail {

namespace {

// Writes one image into its slot of a batch: NCHW float, RGB order, 8- and
// 16-bit pixels scaled to [0, 1], floats as they are (a normalize stage
// already chose the scale). One pass over the pixels, no temporaries.
template <typename Pixel>
void write_planar_rows(const cv::Mat& source, int channels, float scale, float* out) {
  const int height = source.rows, width = source.cols, source_channels = source.channels();
  const std::size_t plane = static_cast<std::size_t>(height) * width;
  for (int y = 0; y < height; ++y) {
    const Pixel* row = source.ptr<Pixel>(y);
    float* r = out + static_cast<std::size_t>(y) * width;
    float* g = r + plane;
    float* b = g + plane;
    if (source_channels == 1) {
      for (int x = 0; x < width; ++x) r[x] = static_cast<float>(row[x]) * scale;
      for (int c = 1; c < channels; ++c) std::memcpy(r + c * plane, r, sizeof(float) * width);
    } else if (channels == 3) {
      for (int x = 0; x < width; ++x) {  // OpenCV keeps BGR; batches are RGB
        b[x] = static_cast<float>(row[3 * x]) * scale;
        g[x] = static_cast<float>(row[3 * x + 1]) * scale;
        r[x] = static_cast<float>(row[3 * x + 2]) * scale;
      }
    } else {
      for (int x = 0; x < width; ++x) {
        r[x] = (0.114f * static_cast<float>(row[3 * x]) + 0.587f * static_cast<float>(row[3 * x + 1]) +
                0.299f * static_cast<float>(row[3 * x + 2])) * scale;
      }
    }
  }
}

}  // namespace

// The final image of the pipeline, checked, in a form write_planar() reads.
cv::Mat batchable(const cv::Mat& image, const std::string& id) {
  cv::Mat source = image;
  if (source.channels() == 4) {
    // Transforms may hand back BGRA; alpha carries nothing for a scan.
    cv::Mat bgr;
    cv::cvtColor(source, bgr, cv::COLOR_BGRA2BGR);
    source = bgr;
  }
  if (source.channels() != 1 && source.channels() != 3) {
    throw Error(fmt::format("{}: the pipeline produced an image with {} channels; expected 1 or 3",
                            id, source.channels()));
  }
  switch (source.depth()) {
    case CV_8U:
    case CV_16U:
    case CV_32F:
      return source;
    case CV_64F: {
      cv::Mat floats;
      source.convertTo(floats, CV_32F);
      return floats;
    }
    default:
      throw Error(fmt::format("{}: the pipeline produced pixels of an unsupported depth ({})", id,
                              source.depth()));
  }
}

void write_planar(const cv::Mat& source, int channels, float* out) {
  switch (source.depth()) {
    case CV_8U: write_planar_rows<std::uint8_t>(source, channels, 1.0f / 255.0f, out); break;
    case CV_16U: write_planar_rows<std::uint16_t>(source, channels, 1.0f / 65535.0f, out); break;
    default: write_planar_rows<float>(source, channels, 1.0f, out); break;
  }
}

}  // namespace cerebra::detail
