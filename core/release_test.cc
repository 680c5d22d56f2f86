// Freed memory goes back to the OS: on request (hak_release_memory) and by itself after
// the decay period. Reads the process's own resident set from /proc/self/statm.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <chrono>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/hakmem.h"

namespace {

size_t ResidentBytes() {
  FILE* f = fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long size = 0, resident = 0;
  if (fscanf(f, "%lu %lu", &size, &resident) != 2) resident = 0;
  fclose(f);
  return resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

// Allocates and touches `total` bytes in blocks of `block`, then frees them all. Returns
// the resident set at its largest (just before the frees).
size_t Burst(size_t total, size_t block) {
  std::vector<void*> v;
  v.reserve(total / block);
  for (size_t done = 0; done < total; done += block) {
    void* p = malloc(block);
    memset(p, 1, block);
    v.push_back(p);
  }
  const size_t peak = ResidentBytes();
  for (void* p : v) free(p);
  return peak;
}

constexpr size_t kMiB = 1 << 20;

// Run with a long HAKMEM_DECAY_MS (see BUILD), so that only the request returns memory.
TEST(Release, OnRequestReturnsFreedSmallAndLargeBlocks) {
  const size_t base = ResidentBytes();
  Burst(96 * kMiB, 1000);       // small classes
  Burst(48 * kMiB, 3 * kMiB);   // large blocks (retention caps what stays)
  const size_t peak = ResidentBytes();  // all freed, none of it returned yet
  ASSERT_GT(peak, base + 80 * kMiB);
  const size_t released = hak_release_memory();
  const size_t after = ResidentBytes();
  EXPECT_GT(released, 80 * kMiB);
  // Thread-cache lists keep a few batches; everything else must be gone.
  EXPECT_LT(after, base + 8 * kMiB) << "base " << base << " peak " << peak << " after " << after;
}

TEST(Release, DecayReturnsIdleMemoryWithoutBeingAsked) {
  const size_t base = ResidentBytes();
  const size_t peak = Burst(96 * kMiB, 2000);
  ASSERT_GT(peak, base + 80 * kMiB);
  // Decay passes run from slow paths; a program that keeps allocating drives them.
  // Default decay is 250 ms, and passes run a few times per period.
  size_t after = peak;
  for (int i = 0; i < 40 && after > base + 16 * kMiB; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    Burst(256 * 1024, 48);  // churn in another class: refills and flushes, no growth
    after = ResidentBytes();
  }
  EXPECT_LT(after, base + 16 * kMiB) << "base " << base << " peak " << peak << " after " << after;
}

TEST(Release, DecayReturnsLargeBlocksBigCacheHeld) {
  const char* forced = getenv("HAKMEM_STRATEGY");
  if (forced != nullptr && strcmp(forced, "mmap") == 0) {
    GTEST_SKIP() << "HAKMEM_STRATEGY=mmap: nothing is cached, frees unmap at once";
  }
  const size_t base = ResidentBytes();
  // 2 MiB blocks: the route serves them through BigCache, which keeps what is freed
  // (up to HAKMEM_BIGCACHE_BYTES) for reuse, until the decay period passes.
  const size_t peak = Burst(48 * kMiB, 2 * kMiB);
  ASSERT_GT(peak, base + 40 * kMiB);
  struct hak_stats s {};
  hak_stats(&s, sizeof(s));
  ASSERT_GT(s.bigcache_bytes, 16 * kMiB) << "BigCache kept nothing: the test tests nothing";
  size_t after = ResidentBytes();
  for (int i = 0; i < 40 && after > base + 8 * kMiB; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    Burst(256 * 1024, 48);  // keep allocating (small): slow paths drive the decay passes
    after = ResidentBytes();
  }
  EXPECT_LT(after, base + 8 * kMiB) << "base " << base << " peak " << peak << " after " << after;
  hak_stats(&s, sizeof(s));
  // What is left is at most a few freshly freed sampled blocks from the churn above.
  EXPECT_LT(s.bigcache_bytes, 1 * kMiB);
}

}  // namespace
