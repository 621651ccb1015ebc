#include "cerebra/architecture.h"
#include "cerebra/training.h"

namespace cerebra {

Architecture::~Architecture() = default;
Loss::~Loss() = default;
Optimizer::~Optimizer() = default;
Objective::~Objective() = default;

}  // namespace cerebra
