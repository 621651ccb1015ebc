#pragma once

#include <string>
#include <vector>

#include "cerebra/audit.h"
#include "cerebra/registry.h"

namespace cerebra::cli {

// One audit source per input: a dataset folder, a pipeline file (with
// `overrides`, "section.key=value", applied) or a run directory. Throws Error
// naming the input that cannot be read.
std::vector<AuditSource> audit_sources(const Registry& registry, const std::vector<std::string>& inputs,
                                       const std::vector<std::string>& overrides = {});

}  // namespace cerebra::cli
