// The three ways a request at or above the decision threshold can be served, the size
// bands the per-site decisions are made for, and which strategies may serve which band.
#ifndef HAKMEM_CORE_STRATEGY_H_
#define HAKMEM_CORE_STRATEGY_H_

#include <stddef.h>
#include <stdint.h>

#include "core/types.h"

namespace hakmem {

enum class Strategy : uint8_t {
  kNone = 0,      // no decision: the band's default applies
  kPool = 1,      // the size classes (thread caches): no header, freed on the fast path
  kBigCache = 2,  // a mapping with a header, reused from BigCache and returned to it
  kMmap = 3,      // a mapping with a header, unmapped on free
};
inline constexpr int kNumStrategies = 4;

// Requests below this always go to the pool with no decision at all (the fast path).
// 64 KiB: below it a request's own cost (touching the memory) is small next to a
// mapping's syscalls and page faults, so only the pool makes sense; from here up the
// three strategies are within a small factor of each other and the site decides.
inline constexpr size_t kDecisionThreshold = 64 * 1024;

enum Band : int {
  kBandMiddle = 0,  // [64 KiB, 256 KiB): pool, BigCache or mmap
  kBandLarge = 1,   // [256 KiB, 4 MiB): BigCache or mmap
  kBandHuge = 2,    // [4 MiB, ...): BigCache or mmap
  kNumBands = 3,
};

inline int BandOf(size_t size) {
  if (size < kLargeThreshold) return kBandMiddle;
  if (size < (size_t{4} << 20)) return kBandLarge;
  return kBandHuge;
}

inline bool Eligible(Strategy s, int band) {
  switch (s) {
    case Strategy::kPool: return band == kBandMiddle;
    case Strategy::kBigCache:
    case Strategy::kMmap: return true;
    default: return false;
  }
}

// What a band gets when its site has no decision: the pool where it can serve (no
// header, the fast path's free), else reuse through BigCache.
inline Strategy DefaultStrategy(int band) {
  return band == kBandMiddle ? Strategy::kPool : Strategy::kBigCache;
}

// Parses "pool", "bigcache" or "mmap"; kNone for anything else.
Strategy ParseStrategy(const char* name);

}  // namespace hakmem

#endif  // HAKMEM_CORE_STRATEGY_H_
