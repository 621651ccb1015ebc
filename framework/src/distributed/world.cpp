// Reads the torchrun-style environment of a data-parallel worker.
#include "world.h"

#include <cstdlib>

#include <fmt/format.h>

#include "cerebra/error.h"

namespace cerebra::detail {

namespace {

const char* variable(const char* name) {
  const char* value = std::getenv(name);
  return value && *value ? value : nullptr;
}

// An integer environment variable within [low, high]; Error naming it otherwise.
int integer_variable(const char* name, int low, int high, const std::string& meaning) {
  const char* text = variable(name);
  if (!text) throw Error(fmt::format("{} is not set; a data-parallel worker needs it ({})", name, meaning));
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (*end != '\0' || value < low || value > high) {
    throw Error(fmt::format("{}={} is not an integer from {} to {} ({})", name, text, low, high, meaning));
  }
  return static_cast<int>(value);
}

}  // namespace

std::optional<WorldSpec> world_from_environment() {
  if (!variable("WORLD_SIZE")) return std::nullopt;
  WorldSpec world;
  world.world = integer_variable("WORLD_SIZE", 1, 65535, "the number of worker processes");
  if (world.world == 1 && !variable("RANK")) return std::nullopt;
  world.rank = integer_variable("RANK", 0, world.world - 1, "this worker's rank, 0 to WORLD_SIZE-1");
  world.local_rank = variable("LOCAL_RANK") ? integer_variable("LOCAL_RANK", 0, 65535, "the rank on this host") : 0;
  const char* address = variable("MASTER_ADDR");
  if (!address) throw Error("MASTER_ADDR is not set; a data-parallel worker needs the host of rank 0");
  world.master_addr = address;
  world.master_port = integer_variable("MASTER_PORT", 1, 65535, "the TCP port of rank 0's rendezvous store");
  if (variable("CEREBRA_DIST_TIMEOUT")) {
    world.timeout_seconds = integer_variable("CEREBRA_DIST_TIMEOUT", 1, 86400, "seconds a collective waits");
  }
  return world;
}

std::string describe(const WorldSpec& world) { return fmt::format("rank {} of {}", world.rank, world.world); }

}  // namespace cerebra::detail
