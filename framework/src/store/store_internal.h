// Shared by the store's sources; not part of the public header.
#pragma once

#include <string>

namespace cerebra::store {

// The absolute, normalised path the store keys a run directory by.
std::string absolute_run_path(const std::string& path);

// "$USER", else the login name of the process's user, else "unknown".
std::string user_name();

}  // namespace cerebra::store
