// What explain_images() and the sanity checks share: a run's model checked
// for Grad-CAM, and one image explained from its prepared form. Internal;
// needs torch.
#pragma once

#include <string>

#include "../training/trained_run.h"
#include "cam.h"
#include "prepared_image.h"

namespace cerebra::detail {

// An Error naming the architecture unless it declares a Grad-CAM layer.
void require_gradcam_layer(const TrainedRun::Impl& run);

// compute_cam(), with a GradcamUnsupported message that names the
// architecture and its layer.
CamResult run_cam(TrainedRun::Impl& run, const torch::Tensor& input, int target, CamMethod method);

// The Explanation of a prepared image from its map.
Explanation assemble_explanation(const std::string& file, PreparedImage prepared, const CamResult& cam,
                                 const HeadMaskOptions& head_options);

}  // namespace cerebra::detail
