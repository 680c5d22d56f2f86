// The seam between the core and BigCache (bigcache/, a layer above). The core maps and
// unmaps blocks; when a block's strategy is BigCache it first asks the cache for a
// mapping and, on free, offers the mapping back. Weak, like profile_hooks.h: a core built
// without bigcache/ serves BigCache requests by direct mapping (and counts the fallback).
#ifndef HAKMEM_CORE_BIGCACHE_HOOKS_H_
#define HAKMEM_CORE_BIGCACHE_HOOKS_H_

#include <stddef.h>
#include <stdint.h>

namespace hakmem {

// The mapping size to create for a block that needs `bytes`, so that freed blocks bin
// into interchangeable sizes. 0: the cache would never take such a block.
size_t BigCacheMappingSize(size_t bytes) __attribute__((weak));
// The largest mapping BigCache will hold (its largest bin within its capacity): a
// mapping of `need` bytes is cacheable iff need <= this. Computed once.
size_t BigCacheLargestMapping() __attribute__((weak));
// A cached mapping of at least `bytes` (*mapping_size says how big), or nullptr.
char* BigCacheTake(size_t bytes, size_t* mapping_size) __attribute__((weak));
// Offers a freed mapping; false means the caller unmaps it.
bool BigCachePut(char* mapping, size_t mapping_size) __attribute__((weak));
// Evicts mappings idle for `decay_ns`; returns bytes given back.
uint64_t BigCacheRelease(uint64_t now_ns, uint64_t decay_ns) __attribute__((weak));
void BigCacheThreadExit() __attribute__((weak));

struct BigCacheCounters {
  uint64_t hits, misses, puts, rejects, evictions, bytes_held, faults_saved;
};
void BigCacheGetCounters(BigCacheCounters* out) __attribute__((weak));

inline bool BigCacheLinked() { return &BigCacheTake != nullptr; }

}  // namespace hakmem

#endif  // HAKMEM_CORE_BIGCACHE_HOOKS_H_
