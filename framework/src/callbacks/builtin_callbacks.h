// The callbacks every run has (the run directory's writers and the progress
// display) and the optional built-in ones (early stopping). Registered by the
// host like a plugin's components, under the plugin name "(built in)".
#pragma once

#include <memory>
#include <vector>

#include "cerebra/callback.h"
#include "cerebra/pipeline.h"

namespace cerebra {

void register_builtin_callbacks(Registry& registry);

namespace detail {

// Callbacks that always run, in this order around the pipeline's own.
const std::vector<std::string>& always_on_callbacks();

// The run's callbacks in calling order: the pipeline's [[callbacks]] (so their
// state is in the checkpoint), checkpoints, the metrics log, progress, summary, report. Error for a [[callbacks]]
// entry naming one that is always on.
std::vector<std::unique_ptr<Callback>> make_callbacks(const Pipeline& pipeline, const Registry& registry);

}  // namespace detail
}  // namespace cerebra
