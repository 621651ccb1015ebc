// Checks of a resolved pipeline against what its components declare about
// themselves (transform output sizes, the architecture's accepted inputs).
// Internal to the framework library; torch-free.
#pragma once

#include <vector>

#include "cerebra/error.h"
#include "cerebra/pipeline.h"
#include "cerebra/registry.h"

namespace cerebra::detail {

// Creates the model and every stage (no network is built) and reports, each
// at the offending table: a component whose constructor refuses its
// parameters, a random stage under [[preprocess]] or a deterministic one
// under [[augment]], and images of a size the architecture does not take.
// Call it on an otherwise valid pipeline: with earlier problems, parameters
// may hold defaults in place of the values written.
void check_components(const Pipeline& pipeline, const Registry& registry,
                      std::vector<Diagnostic>& diagnostics);

}  // namespace cerebra::detail
