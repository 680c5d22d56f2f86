#include "core/decay.h"

#include <atomic>

#include "core/central_freelist.h"
#include "core/bigcache_hooks.h"
#include "core/options.h"
#include "core/os.h"
#include "core/page_heap.h"
#include "core/types.h"

namespace hakmem {
namespace {

std::atomic<uint64_t> g_next_pass_ns{0};
std::atomic<bool> g_running{false};
std::atomic<uint64_t> g_released_bytes{0};

uint64_t Pass(uint64_t now, uint64_t decay_ns) {
  ForEachCentralInUse([&](int c, CentralFreeList& l) { l.Release(c, now, decay_ns); });
  // A fresh clock: spans the central lists just freed count as freed before it.
  uint64_t total = PageHeapRelease(os::NowCoarseNs(), decay_ns);
  if (BigCacheLinked()) total += BigCacheRelease(now, decay_ns);
  g_released_bytes.fetch_add(total, std::memory_order_relaxed);
  return total;
}

}  // namespace

void MaybeReleaseIdleMemory() {
  const uint64_t now = os::NowCoarseNs();
  if (now < g_next_pass_ns.load(std::memory_order_relaxed)) return;
  if (g_running.exchange(true, std::memory_order_acquire)) return;
  const uint64_t decay_ns = static_cast<uint64_t>(GetOption(Option::kDecayMs)) * 1000000u;
  // A few passes per decay period, so memory goes back within about 1.25x of it.
  g_next_pass_ns.store(now + decay_ns / 4 + 1000000, std::memory_order_relaxed);
  Pass(now, decay_ns);
  g_running.store(false, std::memory_order_release);
}

uint64_t ReleaseAllIdleMemory() {
  // The first pass stamps idle batches; the second flushes them and frees their spans.
  uint64_t total = Pass(os::NowCoarseNs(), 0);
  total += Pass(os::NowCoarseNs(), 0);
  return total;
}

uint64_t ReleasedBytes() { return g_released_bytes.load(std::memory_order_relaxed); }

void DecayResetAfterFork() { g_running.store(false, std::memory_order_relaxed); }

}  // namespace hakmem
