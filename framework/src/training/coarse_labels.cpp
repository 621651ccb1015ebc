// Coarse labels ([extra_training]): the acceptance matrix the loss and the
// training accuracy share, so "right" means the same to both.
#include "cerebra/error.h"
#include "cerebra/training.h"

namespace cerebra {

torch::Tensor label_acceptance(std::size_t classes, const std::vector<std::vector<int>>& label_sets,
                               torch::Device device) {
  const auto k = static_cast<std::int64_t>(classes);
  torch::Tensor accepted = torch::zeros({k + static_cast<std::int64_t>(label_sets.size()), k});
  accepted.narrow(0, 0, k).copy_(torch::eye(k));
  auto rows = accepted.accessor<float, 2>();
  for (std::size_t j = 0; j < label_sets.size(); ++j) {
    for (int c : label_sets[j]) {
      if (c < 0 || c >= k) throw Error("coarse label " + std::to_string(j) + " names class " + std::to_string(c) +
                                       " of " + std::to_string(k));
      rows[k + static_cast<std::int64_t>(j)][c] = 1.0f;
    }
  }
  return accepted.to(device);
}

}  // namespace cerebra
