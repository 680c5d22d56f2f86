// An allocator for hakmem's own long-lived metadata (site tables, module records): memory
// from mmap, zeroed, never freed. The allocator's metadata must never come from malloc:
// it would recurse into itself, and its records would perturb what they measure.
#ifndef HAKMEM_CORE_ARENA_H_
#define HAKMEM_CORE_ARENA_H_

#include <stddef.h>

namespace hakmem {

// Zeroed memory aligned to 64 bytes; nullptr if the OS refuses. Thread-safe.
void* ArenaAllocate(size_t bytes);

void ArenaLockForFork();
void ArenaUnlockForFork();
void ArenaResetAfterFork();

}  // namespace hakmem

#endif  // HAKMEM_CORE_ARENA_H_
