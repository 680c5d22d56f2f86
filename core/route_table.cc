#include "core/route_table.h"

#include <string.h>

namespace hakmem {

RouteSlot g_route_table[1 << kRouteTableBits];

Strategy ParseStrategy(const char* name) {
  if (name == nullptr) return Strategy::kNone;
  if (strcmp(name, "pool") == 0) return Strategy::kPool;
  if (strcmp(name, "bigcache") == 0) return Strategy::kBigCache;
  if (strcmp(name, "mmap") == 0) return Strategy::kMmap;
  return Strategy::kNone;
}

bool PublishRouteDecision(uintptr_t site, int band, Strategy s) {
  if (band < 0 || band >= kNumBands || site == 0) return false;
  if (s != Strategy::kNone && !Eligible(s, band)) return false;
  // A site already holding its slot with some decision changes a byte without the lock:
  // no writer takes a slot that has decisions, and this path never clears one. The
  // learner republishes here on every trial while it explores.
  RouteSlot& slot = g_route_table[RouteIndex(site)];
  if (s != Strategy::kNone && slot.key.load(std::memory_order_acquire) == site) {
    bool has_decisions = false;
    for (int b = 0; b < kNumBands; ++b) {
      has_decisions |= slot.decision[b].load(std::memory_order_relaxed) != 0;
    }
    if (has_decisions) {
      slot.decision[band].store(static_cast<uint8_t>(s), std::memory_order_relaxed);
      return true;
    }
  }
  SpinLockHolder h(&slot.writer);
  const uintptr_t cur = slot.key.load(std::memory_order_relaxed);
  if (cur != site) {
    bool other_has_decisions = false;
    for (int b = 0; b < kNumBands; ++b) {
      other_has_decisions |= slot.decision[b].load(std::memory_order_relaxed) != 0;
    }
    if (cur != 0 && other_has_decisions) return false;
    // Take the slot: clear the bytes before the key says they are this site's.
    slot.key.store(0, std::memory_order_release);
    for (int b = 0; b < kNumBands; ++b) slot.decision[b].store(0, std::memory_order_relaxed);
    slot.key.store(site, std::memory_order_release);
  }
  slot.decision[band].store(static_cast<uint8_t>(s), std::memory_order_relaxed);
  return true;
}

void RouteTableResetAfterFork() {
  for (RouteSlot& slot : g_route_table) slot.writer.ResetAfterFork();
}

}  // namespace hakmem
