// The chunk supply: hands out 4 MiB-aligned chunks carved from large address-space
// reservations, so the kernel sees one mmap per region rather than one per chunk.
// REQUIRES: callers hold no central-list lock of a different class while calling
// (lock order: central list, then page heap).
#ifndef HAKMEM_CORE_PAGE_HEAP_H_
#define HAKMEM_CORE_PAGE_HEAP_H_

#include <stddef.h>
#include <stdint.h>

#include "core/types.h"

namespace hakmem {

// Returns a chunk dedicated to `size_class`, its header initialized and its map entry set;
// nullptr when the OS refuses memory.
ChunkHeader* AllocateChunk(int size_class);

struct PageHeapStats {
  uint64_t reserved_bytes;  // address space mapped for chunks
  uint64_t chunks;          // chunks handed out
};
PageHeapStats GetPageHeapStats();

void PageHeapLockForFork();
void PageHeapUnlockForFork();
void PageHeapResetAfterFork();

}  // namespace hakmem

#endif  // HAKMEM_CORE_PAGE_HEAP_H_
