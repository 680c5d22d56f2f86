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

// `site` is the call site: the caller's return address (or an explicit site token). It is
// only read on slow paths (a sample, a large block), so passing it costs the fast path
// nothing.
HAK_INLINE void* Allocate(size_t size, uintptr_t site) {
  // The table-driven sizes first: one compare on the most common path.
  if (HAK_LIKELY(size <= kMaxTableSize)) {
    if (SampleDue(size)) return SampleAllocate(size, kMinAlign, site);
    return AllocateSmall(TableSizeToClass(size));
  }
  if (HAK_LIKELY(size < kDecisionThreshold)) {
    if (SampleDue(size)) return SampleAllocate(size, kMinAlign, site);
    return AllocateSmall(SizeToClass(size));
  }
  return RouteAllocate(size, kMinAlign, nullptr, site);
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
