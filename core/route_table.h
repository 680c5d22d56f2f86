// The per-(site, band) strategy decisions the route reads: a direct-mapped table from a
// site key to one byte per band, written off the hot path (by the learner, a frozen
// table, or hak_route_set) and read with plain loads. A site with no entry, or whose slot
// another site has taken, gets the band's default: a decision can be lost to a
// collision, never misapplied, because the slot stores the full key.
#ifndef HAKMEM_CORE_ROUTE_TABLE_H_
#define HAKMEM_CORE_ROUTE_TABLE_H_

#include <stdint.h>

#include <atomic>

#include "core/base.h"
#include "core/lock.h"
#include "core/strategy.h"

namespace hakmem {

inline constexpr int kRouteTableBits = 12;

struct RouteSlot {
  // Initialized members make the table constant-initialized (zero bss). Without them the
  // compiler wrote every slot's lock from a static constructor at start-up: 64 KiB of
  // resident memory in every process, whether or not a decision was ever made.
  std::atomic<uintptr_t> key{0};
  std::atomic<uint8_t> decision[kNumBands] = {};
  // Serializes the slot's writers (a learner's decisions for a site, a frozen table,
  // hak_route_set). Per slot, not global: writers of different sites never wait on each
  // other, and readers never take it.
  SpinLock writer;
  // Odd while the slot changes hands, and bumped past it when it has: a reader that sees
  // the same even version before and after reading key and decision read one site's.
  // (Without it, core:route_table_test read another site's decision thousands of times:
  // the slot was taken between a reader's key check and its load of the decision.)
  std::atomic<uint32_t> version{0};
};
static_assert(sizeof(RouteSlot) == 16, "route slots pack four to a cache line");

extern RouteSlot g_route_table[1 << kRouteTableBits];

HAK_INLINE uint32_t RouteIndex(uintptr_t site) {
  return static_cast<uint32_t>((site * 0x9E3779B97F4A7C15ull) >> (64 - kRouteTableBits));
}

// The decision for (site, band), or kNone (also while the slot changes hands).
HAK_INLINE Strategy RouteDecision(uintptr_t site, int band) {
  const RouteSlot& s = g_route_table[RouteIndex(site)];
  const uint32_t v = s.version.load(std::memory_order_acquire);
  if (s.key.load(std::memory_order_relaxed) != site) return Strategy::kNone;
  const uint8_t d = s.decision[band].load(std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_acquire);
  if ((v & 1) != 0 || s.version.load(std::memory_order_relaxed) != v) return Strategy::kNone;
  return static_cast<Strategy>(d);
}

// In a forked child: releases every slot's writer lock (a thread of the parent may have
// held one at fork; no thread of the child will release it). A slot caught mid-take
// reads as empty or as its new site, both valid.
void RouteTableResetAfterFork();

// Publishes a decision (kNone clears it). Returns false if `s` cannot serve `band`, or
// the site's slot is held by another site with decisions.
bool PublishRouteDecision(uintptr_t site, int band, Strategy s);

}  // namespace hakmem

#endif  // HAKMEM_CORE_ROUTE_TABLE_H_
