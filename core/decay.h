// Returns idle memory to the OS after the decay period (HAKMEM_DECAY_MS): central batches
// go back to their spans, free granules of the page heap are decommitted, retained large
// mappings are unmapped. Driven from slow
// paths only (a thread-cache refill or flush, a large allocation or free), so an idle
// program is not woken; hak_release_memory() forces a full pass.
#ifndef HAKMEM_CORE_DECAY_H_
#define HAKMEM_CORE_DECAY_H_

#include <stdint.h>

namespace hakmem {

// One clock read and a compare unless a pass is due.
void MaybeReleaseIdleMemory();
// Releases everything idle now, whatever its age. Returns bytes returned to the OS.
uint64_t ReleaseAllIdleMemory();
// Bytes returned to the OS since start.
uint64_t ReleasedBytes();

// In a fork child: a pass another thread was running at fork time will never finish.
void DecayResetAfterFork();

}  // namespace hakmem

#endif  // HAKMEM_CORE_DECAY_H_
