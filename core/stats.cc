#include "core/stats.h"

#include "core/bigcache_hooks.h"
#include "core/decay.h"
#include "core/route.h"
#include "core/large.h"
#include "core/os.h"
#include "core/page_heap.h"
#include "core/sampler.h"

namespace hakmem {

Stats GetStats() {
  Stats s{};
  const PageHeapStats ph = GetPageHeapStats();
  const LargeStats ls = GetLargeStats();
  const os::Counters oc = os::GetCounters();
  s.heap_reserved_bytes = ph.reserved_bytes;
  s.heap_span_bytes = ph.span_bytes;
  s.heap_dirty_free_bytes = ph.dirty_free_bytes;
  s.large_allocs = ls.allocs;
  s.large_frees = ls.frees;
  s.large_reuses = ls.reuses;
  s.large_live_bytes = ls.live_bytes;
  s.large_peak_live_bytes = ls.peak_live_bytes;
  s.mapped_by_bigcache = ls.by_strategy[static_cast<int>(Strategy::kBigCache)];
  s.mapped_by_mmap = ls.by_strategy[static_cast<int>(Strategy::kMmap)];
  s.sampled_blocks = SampledBlocks();
  if (BigCacheLinked()) {
    BigCacheCounters bc{};
    BigCacheGetCounters(&bc);
    s.bigcache_hits = bc.hits;
    s.bigcache_misses = bc.misses;
    s.bigcache_evictions = bc.evictions;
    s.bigcache_bytes = bc.bytes_held;
    s.bigcache_faults_saved = bc.faults_saved;
    s.bigcache_gathers = bc.gathers;
    s.bigcache_moved_bytes = bc.moved_bytes;
  }
  s.strategy_fallbacks = StrategyFallbacks();
  s.bytes_from_os = ph.committed_bytes + ls.live_bytes + s.bigcache_bytes;
  s.released_bytes = ReleasedBytes();
  s.mmap_calls = oc.mmap_calls;
  s.munmap_calls = oc.munmap_calls;
  s.madvise_calls = oc.madvise_calls;
  s.mremap_calls = oc.mremap_calls;
  return s;
}

}  // namespace hakmem
