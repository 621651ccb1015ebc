#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cerebra/audit.h"

namespace cerebra::cli {

// The audit report (audit()'s JSON) as a self-contained HTML page, with
// thumbnails of each group read from `sources` now.
std::string audit_html(const nlohmann::json& report, const std::vector<AuditSource>& sources);

}  // namespace cerebra::cli
