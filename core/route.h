// The route for everything the size classes do not serve: requests over kMaxSmallSize or
// aligned beyond kMaxClassAlign, plus frees of pointers that are in no small-object chunk
// (nullptr, large blocks, and pointers hakmem never handed out).
//
// This is the one place where a per-call-site strategy choice goes (pool, BigCache, direct
// map): the small-object fast path never reaches here, so choosing costs it nothing.
// Today every block routed here is a direct mapping with retention (large.h).
#ifndef HAKMEM_CORE_ROUTE_H_
#define HAKMEM_CORE_ROUTE_H_

#include <stddef.h>
#include <stdint.h>

namespace hakmem {

// Sets errno to ENOMEM and returns nullptr when memory cannot be had. When `zeroed` is not
// null it is set to whether the block is known to read as zero (fresh from the OS).
// `site` is the call site's key (see Allocate); every routed block is recorded exactly.
void* RouteAllocate(size_t size, size_t align, bool* zeroed, uintptr_t site);
void RouteDeallocate(void* p);
size_t RouteUsableSize(const void* p);
// REQUIRES: p is a routed block (not in a small chunk), not nullptr.
void* RouteReallocate(void* p, size_t size);

}  // namespace hakmem

#endif  // HAKMEM_CORE_ROUTE_H_
