// A snapshot of the allocator's counters, gathered from the components on demand (slow;
// takes their locks). The fast paths keep no counters: what they do is implied by the
// batches that move through the slow paths.
#ifndef HAKMEM_CORE_STATS_H_
#define HAKMEM_CORE_STATS_H_

#include <stdint.h>

namespace hakmem {

struct Stats {
  uint64_t bytes_from_os;          // committed heap + live mapped blocks + BigCache's
  uint64_t heap_reserved_bytes, heap_span_bytes, heap_dirty_free_bytes;
  uint64_t large_allocs, large_frees, large_reuses;  // mapped blocks (BigCache, mmap)
  uint64_t large_live_bytes, large_peak_live_bytes;
  uint64_t mapped_by_bigcache, mapped_by_mmap;       // mapped blocks per strategy
  uint64_t sampled_blocks;         // of mapped_by_bigcache: sampled small allocations
  uint64_t bigcache_hits, bigcache_misses, bigcache_evictions, bigcache_bytes;
  uint64_t bigcache_faults_saved;  // estimated: pages a hit did not have to fault in
  uint64_t strategy_fallbacks;
  uint64_t bigcache_gathers, bigcache_moved_bytes;  // hits gathered from pieces (big_cache.h)
  uint64_t released_bytes;         // returned to the OS by decay or on request
  uint64_t mmap_calls, munmap_calls, madvise_calls, mremap_calls;
};

Stats GetStats();

}  // namespace hakmem

#endif  // HAKMEM_CORE_STATS_H_
