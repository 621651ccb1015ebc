// Shared by the k-fold and sweep drivers (framework/src/experiments/). No torch.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "cerebra/config.h"
#include "cerebra/run_directory.h"

namespace cerebra {

ConfigNode int_node(std::int64_t value);
ConfigNode string_node(const std::string& value);
// root[section][key] = value, the section table created when missing.
void set_config_value(ConfigNode& root, const std::string& section, const std::string& key, ConfigNode value);

// Whether a run directory holds a summary of a run that trained to its end
// (completed, or early-stopped); an interrupted or failed one is not finished.
bool run_finished(const RunDirectory& run);

// The run directory `<parent>/<name>-<time>[-N]` (the newest when there are
// several), or "": how a second call finds the fold or trial a first one began.
std::string find_run_dir(const std::string& parent, const std::string& name);

// Adds tags to a run in its store; a store that cannot be written is a
// warning on `log`, as it is for training.
void tag_run(const std::string& run_dir, const std::vector<std::string>& tags, std::ostream& log);

}  // namespace cerebra
