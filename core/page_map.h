// Maps every 64 KiB granule of the small-object heap to the size class of the span that
// holds it (0: not part of a span). This is how free() finds a block's owner: a subtract,
// a shift and one load; no header and no hash. The map is a zero-initialized global, so it
// needs no set-up, reads 0 for any address before the heap exists, and only the pages
// that cover granules in use are ever touched (16 MiB of address space for a 1 TiB heap).
#ifndef HAKMEM_CORE_PAGE_MAP_H_
#define HAKMEM_CORE_PAGE_MAP_H_

#include <stdint.h>

#include "core/base.h"
#include "core/types.h"

namespace hakmem {

extern uintptr_t g_heap_base HAK_HIDDEN;  // set once, before the first small block exists
extern uint8_t g_page_class[kMaxHeapGranules] HAK_HIDDEN;
// The central shard whose span holds each granule (meaningful only while a span does).
// Its own byte map, not a field of the span: a flush looks up every object it sends,
// and one byte per granule keeps that one dense load.
extern uint8_t g_page_shard[kMaxHeapGranules] HAK_HIDDEN;
extern Span* g_spans HAK_HIDDEN;         // span metadata by granule (a NORESERVE mapping)

HAK_INLINE uintptr_t GranuleOf(const void* p) {
  return (reinterpret_cast<uintptr_t>(p) - g_heap_base) >> kGranuleShift;
}

HAK_INLINE int PageClassOf(const void* p) {
  const uintptr_t g = GranuleOf(p);
  if (HAK_UNLIKELY(g >= kMaxHeapGranules)) return 0;
  return g_page_class[g];
}

// The shard of `p`, a small object a span holds.
HAK_INLINE int ShardOf(const void* p) { return g_page_shard[GranuleOf(p)]; }

// True if p lies in the heap reservation (whether or not a span holds it).
bool InHeap(const void* p);

}  // namespace hakmem

#endif  // HAKMEM_CORE_PAGE_MAP_H_
