// The page heap: reserves the small-object heap once (address space only), commits it a
// 4 MiB chunk at a time, and hands out spans: naturally aligned runs of 1, 2, 4 .. 32
// granules (64 KiB each), tracked by a used bitmap per chunk. A span freed here is at once
// available to every size class; its pages stay committed ("dirty") until the decay
// period has passed, then go back to the OS.
// Lock order: a central list's lock may be held while calling in; never the reverse.
#ifndef HAKMEM_CORE_PAGE_HEAP_H_
#define HAKMEM_CORE_PAGE_HEAP_H_

#include <stddef.h>
#include <stdint.h>

namespace hakmem {

// Reserves the heap. Idempotent; called from global initialization. Returns false if no
// reservation could be made (small allocations then fail over to the large route).
bool PageHeapInit();

// A span of `granules` (a power of two, at most 32) granule-aligned to its own size;
// nullptr when the heap is exhausted.
char* AllocateSpan(int granules);
void FreeSpan(char* start, int granules);

// Decommits free granules whose chunk has had no span freed for `decay_ns`. Returns bytes.
uint64_t PageHeapRelease(uint64_t now_ns, uint64_t decay_ns);

struct PageHeapStats {
  uint64_t reserved_bytes;   // address space reserved for the heap
  uint64_t committed_bytes;  // chunks made accessible so far
  uint64_t span_bytes;       // in spans now
  uint64_t dirty_free_bytes; // free but not yet returned to the OS
};
PageHeapStats GetPageHeapStats();

void PageHeapLockForFork();
void PageHeapUnlockForFork();
void PageHeapResetAfterFork();

}  // namespace hakmem

#endif  // HAKMEM_CORE_PAGE_HEAP_H_
