// [run] allocator: "retain" keeps freed activation-sized blocks in the process.
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

#include <gtest/gtest.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "cerebra/error.h"
#include "cerebra/memory.h"
#include "test_support.h"

using cerebra::configure_allocator;

namespace {
// The allocator's environment for one test: no MALLOC_*_ settings, and
// GLIBC_TUNABLES as given (or unset).
struct Environment {
  explicit Environment(const std::optional<std::string>& tunables) : tunables_("GLIBC_TUNABLES", tunables) {}
  cerebra::testing::ScopedEnv mmap_{"MALLOC_MMAP_THRESHOLD_", std::nullopt};
  cerebra::testing::ScopedEnv trim_{"MALLOC_TRIM_THRESHOLD_", std::nullopt};
  cerebra::testing::ScopedEnv tunables_;
};
}  // namespace

TEST(Allocator, UnknownModeIsAnErrorNamingTheSetting) {
  auto message = cerebra::testing::error_message_of([] { configure_allocator("fast"); });
  EXPECT_NE(message.find("[run] allocator = \"fast\""), std::string::npos) << message;
}

TEST(Allocator, SystemLeavesTheDefaults) {
  Environment environment(std::nullopt);
  EXPECT_NE(configure_allocator("system").find("system defaults"), std::string::npos);
}

TEST(Allocator, TheUsersMallocTunablesWin) {
  Environment environment("glibc.malloc.trim_threshold=1000000");
  auto description = configure_allocator("retain");
  EXPECT_NE(description.find("GLIBC_TUNABLES=glibc.malloc.trim_threshold=1000000"), std::string::npos)
      << description;
}

#if defined(__GLIBC__)
TEST(Allocator, RetainServesLargeBlocksFromTheHeapAndKeepsThemAfterFree) {
  Environment environment(std::nullopt);
  EXPECT_NE(configure_allocator("retain").find("retained"), std::string::npos);
  // 16 MiB: with glibc's defaults a fresh process maps such a block on its own
  // and unmaps it on free (so the next step faults it in again).
  const std::size_t size = 16u << 20;
  const auto mapped_before = mallinfo2().hblkhd;
  void* block = std::malloc(size);
  ASSERT_NE(block, nullptr);
  std::memset(block, 1, size);
  EXPECT_EQ(mallinfo2().hblkhd, mapped_before) << "the block was mapped on its own";
  const auto arena_with_block = mallinfo2().arena;
  std::free(block);
  EXPECT_GE(mallinfo2().arena, arena_with_block) << "the heap was trimmed after free";
  EXPECT_GE(mallinfo2().arena, size);
}
#endif
