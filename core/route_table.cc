#include "core/route_table.h"

#include <string.h>

#include "absl/base/attributes.h"

namespace hakmem {

ABSL_CONST_INIT RouteSlot g_route_table[1 << kRouteTableBits];

Strategy ParseStrategy(const char* name) {
  if (name == nullptr) return Strategy::kNone;
  if (strcmp(name, "pool") == 0) return Strategy::kPool;
  if (strcmp(name, "bigcache") == 0) return Strategy::kBigCache;
  if (strcmp(name, "mmap") == 0) return Strategy::kMmap;
  return Strategy::kNone;
}

void RouteTableResetAfterFork() {
  for (RouteSlot& slot : g_route_table) slot.writer.ResetAfterFork();
}

bool PublishRouteDecision(uintptr_t site, int band, Strategy s) {
  if (band < 0 || band >= kNumBands || site == 0) return false;
  if (s != Strategy::kNone && !Eligible(s, band)) return false;
  // Always under the slot's lock: a lock-free change of a byte by the site that holds
  // the slot could land after another site took it (between the holder's check and its
  // store), in that site's decisions. Uncontended, the lock is one exchange; only the
  // learner's decisions (requests of 64 KiB and up) come here.
  RouteSlot& slot = g_route_table[RouteIndex(site)];
  SpinLockHolder h(&slot.writer);
  const uintptr_t cur = slot.key.load(std::memory_order_relaxed);
  if (cur != site) {
    bool other_has_decisions = false;
    for (int b = 0; b < kNumBands; ++b) {
      other_has_decisions |= slot.decision[b].load(std::memory_order_relaxed) != 0;
    }
    if (cur != 0 && other_has_decisions) return false;
    // Take the slot, readers told by the version (route_table.h): odd while it changes.
    const uint32_t v = slot.version.load(std::memory_order_relaxed);
    slot.version.store(v + 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    slot.key.store(site, std::memory_order_relaxed);
    for (int b = 0; b < kNumBands; ++b) slot.decision[b].store(0, std::memory_order_relaxed);
    slot.decision[band].store(static_cast<uint8_t>(s), std::memory_order_relaxed);
    slot.version.store(v + 2, std::memory_order_release);
    return true;
  }
  slot.decision[band].store(static_cast<uint8_t>(s), std::memory_order_relaxed);
  return true;
}

}  // namespace hakmem
