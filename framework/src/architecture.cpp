#include "cerebra/architecture.h"

namespace cerebra {

Architecture::~Architecture() = default;

}  // namespace cerebra
