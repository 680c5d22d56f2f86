// The allocator's operations, composed from the thread cache (small sizes) and the route
// (everything else). The exported C and C++ entry points are thin wrappers over these.
#ifndef HAKMEM_CORE_ALLOCATOR_H_
#define HAKMEM_CORE_ALLOCATOR_H_

#include <stddef.h>

#include "core/base.h"
#include "core/page_map.h"
#include "core/route.h"
#include "core/sampler.h"
#include "core/size_class.h"
#include "core/strategy.h"
#include "core/thread_cache.h"

namespace hakmem {

// The fast path: a size-class lookup and a list pop (which also counts down to the next
// sample). Returns nullptr for everything else (a sample is due, the list is empty, the
// size is routed), which AllocateSlow serves.
// Entry points are written as `TryAllocateFast(n) ?: AllocateSlow(n, caller)`, so the
// call site (the caller's return address) is only computed on the slow path.
HAK_INLINE void* TryAllocateFast(size_t size) {
  // The table-driven sizes first: one compare on the most common path.
  if (HAK_LIKELY(size <= kMaxTableSize)) return TryPop(TableSizeToClass(size));
  if (HAK_LIKELY(size < kDecisionThreshold)) return TryPop(SizeToClass(size));
  return nullptr;
}

// Everything TryAllocateFast left: samples, refills, and the route. `site` is the call
// site: the caller's return address, or an explicit site token.
void* AllocateSlow(size_t size, uintptr_t site);

HAK_INLINE void* Allocate(size_t size, uintptr_t site) {
  void* p = TryAllocateFast(size);
  if (HAK_LIKELY(p != nullptr)) return p;
  return AllocateSlow(size, site);
}

HAK_INLINE void Deallocate(void* p) {
  const int c = PageClassOf(p);
  if (HAK_LIKELY(c != 0)) {
    DeallocateSmall(p, c);
    return;
  }
  RouteDeallocate(p);
}

// REQUIRES: align is a power of two.
void* AllocateAligned(size_t align, size_t size, uintptr_t site);
void* AllocateZeroed(size_t n, size_t size, uintptr_t site);  // calloc: ENOMEM on overflow
void* Reallocate(void* p, size_t size, uintptr_t site);  // realloc; glibc's semantics for 0
size_t UsableSize(const void* p);

}  // namespace hakmem

#endif  // HAKMEM_CORE_ALLOCATOR_H_
