// The route: everything the size classes' fast path does not serve. For a request at or
// above kDecisionThreshold it applies the call site's strategy for the request's size
// band (one byte from the route table; the band's default for an unknown site), unless
// HAKMEM_STRATEGY forces one. The pool serves through the thread caches (no header); the
// other two through a mapped block whose header names its strategy, so free and realloc
// go back to it in O(1). It also takes the frees of pointers that are in no span:
// nullptr, mapped blocks, and pointers hakmem never handed out.
#ifndef HAKMEM_CORE_ROUTE_H_
#define HAKMEM_CORE_ROUTE_H_

#include <stddef.h>
#include <stdint.h>

#include "core/strategy.h"
#include "core/types.h"

namespace hakmem {

// Sets errno to ENOMEM and returns nullptr when memory cannot be had. When `zeroed` is not
// null it is set to whether the block is known to read as zero (fresh from the OS).
// `site` is the call site's key (see Allocate); mapped blocks are recorded exactly.
void* RouteAllocate(size_t size, size_t align, bool* zeroed, uintptr_t site);
void RouteDeallocate(void* p);
size_t RouteUsableSize(const void* p);
// realloc of a mapped block within its band, keeping its strategy (mremap), or of a
// sampled block where the pool would keep a block of its class. Returns false if the
// block must move instead (its band or class changes, or the pool now serves it);
// else true with *out the block, or nullptr and errno ENOMEM (the old block intact).
// REQUIRES: p is a mapped block (RouteUsableSize(p) != 0).
bool RouteReallocateInPlace(void* p, size_t size, uintptr_t site, void** out);

// The strategy the route would use for `size` at `site` now (after forcing and fallback).
// *fell_back, if given, says whether a forced or decided strategy had to be replaced:
// pool past its band, BigCache past its largest bin (64 MiB) or not built in.
Strategy RouteChoose(size_t size, uintptr_t site, bool* fell_back = nullptr,
                     size_t align = kMinAlign);

// Requests served by another strategy than the one decided or forced, because that one
// cannot serve the size (e.g. pool for 1 MiB) or is not built in.
uint64_t StrategyFallbacks();

}  // namespace hakmem

#endif  // HAKMEM_CORE_ROUTE_H_
