// Images of a pipeline turned into the float planes of a batch.
#include "planar.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include <fmt/format.h>
#include <opencv2/core/hal/intrin.hpp>
#include <opencv2/imgproc.hpp>

#include "cerebra/error.h"

namespace cerebra::detail {

namespace {

#if CV_SIMD128
// 16 pixels' values of one channel, mapped and stored as floats: multiply,
// then add, as the scalar loop does (no fused multiply-add), so the values
// are bit for bit those of the normalize stage (tests/data/loader_fold_test).
void store_mapped(const cv::v_uint8x16& values, const cv::v_float32x4& a, const cv::v_float32x4& b, float* out) {
  cv::v_uint16x8 low, high;
  cv::v_expand(values, low, high);
  cv::v_uint32x4 q[4];
  cv::v_expand(low, q[0], q[1]);
  cv::v_expand(high, q[2], q[3]);
  for (int i = 0; i < 4; ++i) cv::v_store(out + 4 * i, cv::v_cvt_f32(cv::v_reinterpret_as_s32(q[i])) * a + b);
}

// The common case, 8-bit BGR (or gray replicated) into three RGB planes, 16
// pixels at a time: 3.5x the scalar loop at 224x224 (a fifth of a warm epoch
// in tools/bench-loader). Returns the first column it left to the scalar loop.
int write_row_u8_simd(const std::uint8_t* row, int width, bool gray, const float (&a)[3], const float (&b)[3],
                      float* r, float* g, float* bl) {
  const cv::v_float32x4 a0 = cv::v_setall_f32(a[0]), a1 = cv::v_setall_f32(a[1]), a2 = cv::v_setall_f32(a[2]);
  const cv::v_float32x4 b0 = cv::v_setall_f32(b[0]), b1 = cv::v_setall_f32(b[1]), b2 = cv::v_setall_f32(b[2]);
  int x = 0;
  for (; x + 16 <= width; x += 16) {
    cv::v_uint8x16 vb, vg, vr;
    if (gray) vb = vg = vr = cv::v_load(row + x);
    else cv::v_load_deinterleave(row + 3 * x, vb, vg, vr);
    store_mapped(vb, a0, b0, bl + x);
    store_mapped(vg, a1, b1, g + x);
    store_mapped(vr, a2, b2, r + x);
  }
  return x;
}
#endif

// Writes one image into its slot of a batch: NCHW float, RGB order, each
// value v of OpenCV channel c (B, G, R) written as v * a[c] + b[c]. One pass
// over the pixels, no temporaries. A gray source with three coefficients
// stands for its gray values replicated into B, G and R. Gray made of colour
// (channels == 1) is the weighted sum of the mapped values times gray_scale.
template <typename Pixel>
void write_planar_rows(const cv::Mat& source, int channels, const float (&a)[3], const float (&b)[3],
                       float gray_scale, bool gray_as_colour, float* out) {
  const int height = source.rows, width = source.cols, source_channels = source.channels();
  const std::size_t plane = static_cast<std::size_t>(height) * width;
  for (int y = 0; y < height; ++y) {
    const Pixel* row = source.ptr<Pixel>(y);
    float* r = out + static_cast<std::size_t>(y) * width;
    float* g = r + plane;
    float* bl = g + plane;
    if (source_channels == 1 && !gray_as_colour) {
      for (int x = 0; x < width; ++x) r[x] = static_cast<float>(row[x]) * a[0] + b[0];
      for (int c = 1; c < channels; ++c) std::memcpy(r + c * plane, r, sizeof(float) * width);
    } else if (source_channels == 1) {
      // One gray value, three colours: as the three channels of its replica.
      int x = 0;
#if CV_SIMD128
      if constexpr (std::is_same_v<Pixel, std::uint8_t>) {
        if (channels == 3) x = write_row_u8_simd(row, width, true, a, b, r, g, bl);
      }
#endif
      for (; x < width; ++x) {
        const float v = static_cast<float>(row[x]);
        const float vb = v * a[0] + b[0], vg = v * a[1] + b[1], vr = v * a[2] + b[2];
        if (channels == 3) {
          bl[x] = vb;
          g[x] = vg;
          r[x] = vr;
        } else {
          r[x] = (0.114f * vb + 0.587f * vg + 0.299f * vr) * gray_scale;
        }
      }
    } else if (channels == 3) {
      int x = 0;
#if CV_SIMD128
      if constexpr (std::is_same_v<Pixel, std::uint8_t>) x = write_row_u8_simd(row, width, false, a, b, r, g, bl);
#endif
      for (; x < width; ++x) {  // OpenCV keeps BGR; batches are RGB
        bl[x] = static_cast<float>(row[3 * x]) * a[0] + b[0];
        g[x] = static_cast<float>(row[3 * x + 1]) * a[1] + b[1];
        r[x] = static_cast<float>(row[3 * x + 2]) * a[2] + b[2];
      }
    } else {
      for (int x = 0; x < width; ++x) {
        r[x] = (0.114f * (static_cast<float>(row[3 * x]) * a[0] + b[0]) +
                0.587f * (static_cast<float>(row[3 * x + 1]) * a[1] + b[1]) +
                0.299f * (static_cast<float>(row[3 * x + 2]) * a[2] + b[2])) * gray_scale;
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

void write_planar(const cv::Mat& source, int channels, float* out, const ChannelMap* map) {
  // Without a map: 8- and 16-bit pixels scaled to [0, 1], floats as they are.
  float scale = source.depth() == CV_8U ? 1.0f / 255.0f : source.depth() == CV_16U ? 1.0f / 65535.0f : 1.0f;
  float a[3] = {scale, scale, scale}, b[3] = {0.0f, 0.0f, 0.0f};
  float gray_scale = 1.0f;
  bool gray_as_colour = false;
  if (!map && channels == 1 && source.channels() == 3) {
    // Weighted sum first, then the scale: the rounding this loader always had.
    std::fill(a, a + 3, 1.0f);
    gray_scale = scale;
  }
  if (map) {
    const std::size_t entries = map->scale.size();
    const bool fits = map->offset.size() == entries &&
                      (entries == static_cast<std::size_t>(source.channels()) ||
                       (source.channels() == 1 && entries == 3));
    if (!fits) {
      throw Error(fmt::format("a channel map of {} entries cannot apply to an image of {} channels", entries,
                              source.channels()));
    }
    for (std::size_t c = 0; c < 3; ++c) {
      a[c] = map->scale[std::min(c, entries - 1)];
      b[c] = map->offset[std::min(c, entries - 1)];
    }
    gray_as_colour = source.channels() == 1 && entries == 3;
  }
  switch (source.depth()) {
    case CV_8U: write_planar_rows<std::uint8_t>(source, channels, a, b, gray_scale, gray_as_colour, out); break;
    case CV_16U: write_planar_rows<std::uint16_t>(source, channels, a, b, gray_scale, gray_as_colour, out); break;
    default: write_planar_rows<float>(source, channels, a, b, gray_scale, gray_as_colour, out); break;
  }
}

}  // namespace cerebra::detail
