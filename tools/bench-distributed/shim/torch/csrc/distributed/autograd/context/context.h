// Debian's libtorch-dev ships c10d/reducer.hpp but not the distributed
// autograd headers it includes. The Reducer only names this context through
// a shared_ptr and its GradCallback type (which reducer.hpp asserts to be
// std::function<bool(at::Tensor&)>), so these declarations compile it; the
// benchmark never uses distributed autograd. Not part of the framework.
#pragma once

#include <functional>
#include <memory>

#include <ATen/core/Tensor.h>

namespace torch::distributed::autograd {

class DistAutogradContext {
 public:
  using GradCallback = std::function<bool(at::Tensor&)>;
};
using ContextPtr = std::shared_ptr<DistAutogradContext>;

}  // namespace torch::distributed::autograd
