// The seam between the core and BigCache (bigcache/, a layer above). The core maps and
// unmaps blocks of the mmap strategy itself; a block of the BigCache strategy takes its
// memory from BigCache's extent heap and goes back there when freed. Weak, like profile_hooks.h: a core built
// without bigcache/ serves BigCache requests by direct mapping (and counts the fallback).
#ifndef HAKMEM_CORE_BIGCACHE_HOOKS_H_
#define HAKMEM_CORE_BIGCACHE_HOOKS_H_

#include <stddef.h>
#include <stdint.h>

namespace hakmem {

// The largest block BigCache serves; larger ones are mapped directly.
inline constexpr size_t kBigCacheLargestBlock = size_t{1} << 30;
// Memory for a block that needs `bytes` (page-rounded: *mapping_size), from BigCache's
// huge-page regions if `huge`; *fresh: its pages fault on first touch (not reused). nullptr
// if the OS refuses (the caller maps directly).
char* BigCacheTake(size_t bytes, bool huge, size_t* mapping_size, bool* fresh)
    __attribute__((weak));
// Frees a block's memory into BigCache; true if it stays resident for reuse. The memory
// is BigCache's either way: the caller never unmaps it.
bool BigCachePut(char* mapping, size_t mapping_size) __attribute__((weak));
// Resizes a block's memory in place to at least new_size (*resized bytes); false
// (nothing changed) if it cannot. *fresh: some pages it gained fault on first touch.
bool BigCacheResize(char* mapping, size_t size, size_t new_size, size_t* resized, bool* fresh)
    __attribute__((weak));
// Releases free memory idle for `decay_ns`; returns bytes given back.
uint64_t BigCacheRelease(uint64_t now_ns, uint64_t decay_ns) __attribute__((weak));
void BigCacheThreadExit() __attribute__((weak));

struct BigCacheCounters {
  uint64_t hits, misses, puts, rejects, evictions, bytes_held, faults_saved;
  uint64_t gathers, moved_bytes;
};
void BigCacheGetCounters(BigCacheCounters* out) __attribute__((weak));

inline bool BigCacheLinked() { return &BigCacheTake != nullptr; }

}  // namespace hakmem

#endif  // HAKMEM_CORE_BIGCACHE_HOOKS_H_
