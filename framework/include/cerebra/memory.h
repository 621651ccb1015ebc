// How the process hands freed memory back to the system while it trains or
// evaluates. No torch here.
#pragma once

#include <string>

namespace cerebra {

// Applies [run] allocator:
//   "retain" (the default): freed blocks up to 32 MiB stay in the process for
//     reuse instead of going back to the kernel (glibc: mmap threshold 32 MiB,
//     trim threshold 1 GiB). A CPU training step allocates and frees the same
//     activation-sized blocks every step; with glibc's defaults each of them is
//     mapped fresh and page-faulted in again, which measured 4x slower for the
//     study's CNN and 1.8x slower for ResNet50 on the 2-core development
//     machine (docs/performance.md). Peak memory is unchanged; memory freed
//     after the peak is kept by the process until it exits.
//   "system": the C library's defaults, untouched.
// Settings the user made through GLIBC_TUNABLES or MALLOC_*_ environment
// variables win over "retain". Process-wide; returns a one-line description
// of what is in effect, for the run log. Throws cerebra::Error for an unknown
// mode.
std::string configure_allocator(const std::string& mode);

}  // namespace cerebra
