// Where this process stands in a data-parallel job: its rank, the world size
// and the rendezvous address, as torchrun and Slurm scripts set them in the
// environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT). No torch.
#pragma once

#include <optional>
#include <string>

namespace cerebra::detail {

struct WorldSpec {
  int rank = 0;
  int world = 1;
  int local_rank = 0;
  std::string master_addr;
  int master_port = 0;
  // How long a collective or the rendezvous waits for a silent rank before
  // failing with a message naming it (CEREBRA_DIST_TIMEOUT, seconds).
  int timeout_seconds = 120;
};

// The job the environment names, or nothing when WORLD_SIZE is unset (a
// single-process run). A bad or missing variable is an Error naming it.
std::optional<WorldSpec> world_from_environment();

// "rank 1 of 2" for log lines and messages.
std::string describe(const WorldSpec& world);

}  // namespace cerebra::detail
