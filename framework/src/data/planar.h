// The last step of the loader, shared with explanations: a preprocessed image
// checked and written as float planes (NCHW, RGB order). Internal to the
// framework library; no torch.
#pragma once

#include <string>

#include <opencv2/core.hpp>

#include "cerebra/transform.h"

namespace cerebra::detail {

// The final image of the pipeline, checked (1 or 3 channels after dropping
// alpha; 8-bit, 16-bit or float pixels), in a form write_planar() reads. An
// Error names `id` and the problem.
cv::Mat batchable(const cv::Mat& image, const std::string& id);

// Writes `source` (from batchable()) as `channels` float planes at `out`:
// 8- and 16-bit pixels scaled to [0, 1], floats as they are; with `map`, each
// value mapped by it instead (a folded normalize stage, Transform::is_channel_map).
void write_planar(const cv::Mat& source, int channels, float* out, const ChannelMap* map = nullptr);

}  // namespace cerebra::detail
