#include "cerebra/memory.h"

#include <cstdlib>
#include <mutex>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "cerebra/error.h"

namespace cerebra {

namespace {

constexpr int kMmapThreshold = 32 << 20;  // glibc's largest accepted value on 64-bit
constexpr int kTrimThreshold = 1 << 30;

// The user's own allocator settings, if any, in words; empty when none.
std::string user_settings() {
  if (const char* tunables = std::getenv("GLIBC_TUNABLES")) {
    if (std::string(tunables).find("glibc.malloc.") != std::string::npos) {
      return std::string("GLIBC_TUNABLES=") + tunables;
    }
  }
  for (const char* name : {"MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_",
                           "MALLOC_MMAP_MAX_"}) {
    if (const char* value = std::getenv(name)) return std::string(name) + "=" + value;
  }
  return "";
}

}  // namespace

std::string configure_allocator(const std::string& mode) {
  if (mode != "retain" && mode != "system") {
    throw Error("[run] allocator = \"" + mode + "\": expected \"retain\" or \"system\"");
  }
  if (mode == "system") return "system defaults ([run] allocator = \"system\")";
#if defined(__GLIBC__)
  const std::string user = user_settings();
  if (!user.empty()) return "the environment's settings (" + user + ")";
  static std::once_flag once;
  static bool applied = false;
  std::call_once(once, [] {
    applied = mallopt(M_MMAP_THRESHOLD, kMmapThreshold) == 1 && mallopt(M_TRIM_THRESHOLD, kTrimThreshold) == 1;
  });
  if (!applied) return "system defaults (the C library refused the retain settings)";
  return "freed blocks up to 32 MiB retained for reuse (glibc mmap threshold 32 MiB, trim threshold 1 GiB)";
#else
  return "system defaults (retain is implemented for glibc only)";
#endif
}

}  // namespace cerebra
