// A snapshot of the allocator's counters, gathered from the components on demand (slow;
// takes their locks). The fast paths keep no counters: what they do is implied by the
// batches that move through the slow paths.
#ifndef HAKMEM_CORE_STATS_H_
#define HAKMEM_CORE_STATS_H_

#include <stdint.h>

namespace hakmem {

struct Stats {
  uint64_t bytes_from_os;          // committed heap + live and retained large mappings
  uint64_t heap_reserved_bytes, heap_span_bytes, heap_dirty_free_bytes;
  uint64_t large_allocs, large_frees, large_reuses;
  uint64_t large_live_bytes, large_peak_live_bytes, large_retained_bytes;
  uint64_t released_bytes;         // returned to the OS by decay or on request
  uint64_t mmap_calls, munmap_calls, madvise_calls, mremap_calls;
};

Stats GetStats();

}  // namespace hakmem

#endif  // HAKMEM_CORE_STATS_H_
