/* hakmem's public C API. The standard allocation functions (malloc, free, ...) are
 * provided under their usual names; these hak_* functions add what the standard ones
 * cannot say. Safe to call from C and C++, from any thread. */
#ifndef HAKMEM_CORE_HAKMEM_H_
#define HAKMEM_CORE_HAKMEM_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library's version, e.g. "0.1.0". Also a cheap way to test that hakmem is the
 * allocator in this process: dlsym(RTLD_DEFAULT, "hak_version"). */
const char* hak_version(void);

/* Counters since start. `size` is sizeof(struct hak_stats) as the caller knows it, so
 * that older callers keep working when fields are added at the end. Returns 0, or -1
 * (errno EINVAL) if stats is NULL or size is too small for the first field. */
struct hak_stats {
  uint64_t bytes_from_os;       /* committed small-object heap, live and retained large */
  uint64_t heap_reserved_bytes; /* address space reserved for small objects (not memory) */
  uint64_t heap_span_bytes;     /* small-object heap in spans now */
  uint64_t heap_dirty_free_bytes; /* free heap pages not yet returned to the OS */
  uint64_t large_allocs;        /* mapped blocks: BigCache or mmap strategy, and samples */
  uint64_t large_frees;
  uint64_t large_reuses;        /* mapped blocks served from a BigCache mapping */
  uint64_t large_live_bytes;
  uint64_t large_peak_live_bytes;
  uint64_t released_bytes;      /* returned to the OS after decay or by hak_release_memory */
  uint64_t mmap_calls, munmap_calls, madvise_calls, mremap_calls;
  uint64_t mapped_by_bigcache, mapped_by_mmap;  /* mapped blocks per serving strategy */
  uint64_t bigcache_hits, bigcache_misses, bigcache_evictions;
  uint64_t bigcache_bytes;      /* held in BigCache now */
  uint64_t bigcache_faults_saved; /* estimate: pages a hit did not have to fault in */
  uint64_t strategy_fallbacks;  /* requests served by another strategy than decided */
  uint64_t bigcache_gathers;    /* hits served by moving resident free pieces together */
  uint64_t bigcache_moved_bytes; /* bytes those moves carried (page tables, no copy) */
};
int hak_stats(struct hak_stats* stats, size_t size);

/* Returns every idle byte to the OS now, whatever its age (cached batches, empty spans,
 * retained large mappings); memory in other threads' caches is not touched. Returns the
 * number of bytes returned. */
size_t hak_release_memory(void);

/* Allocation entry points under hakmem's own names, for programs that link hakmem
 * without replacing malloc. Same contracts as their standard namesakes. */
void* hak_malloc(size_t size);
void* hak_calloc(size_t n, size_t size);
void* hak_realloc(void* p, size_t size);
void* hak_aligned_alloc(size_t align, size_t size);
void hak_free(void* p);
size_t hak_usable_size(const void* p);

/* Per-site strategy for requests of 64 KiB and up (HAK_STRATEGY_*), for the size band
 * that `size` falls in: [64 KiB, 256 KiB) may use any; 256 KiB and up BigCache or mmap.
 * The learner sets these itself; this is for experiments and tests. `site` is a
 * hak_site_t (explicit sites) or a calling context's key (the site report's "key").
 * Returns 0, or -1 with errno EINVAL if
 * the strategy cannot serve that band or the site's slot is taken by another site. */
enum { HAK_STRATEGY_DEFAULT = 0, HAK_STRATEGY_POOL = 1, HAK_STRATEGY_BIGCACHE = 2,
       HAK_STRATEGY_MMAP = 3 };
int hak_route_set(uint64_t site, size_t size, int strategy);

/* Explicit call sites, for programs that want to name their allocation sites instead of
 * (or besides) the automatic ones (the caller's return address):
 *
 *   char* buf = hak_malloc_at(n, HAK_SITE("parser.tokens"));
 *
 * A site's key is a hash of its name, so the same name is the same site in every run.
 * Frozen tables hold names of up to 63 bytes: a site with a longer name is learned but
 * left out of HAKMEM_FREEZE_TO's table (one line on stderr says how many).
 * hak_site_register returns 0 for a NULL or empty name; hak_malloc_at with site 0 uses
 * the caller's return address, like malloc. Free such blocks with free() or hak_free(). */
typedef uint64_t hak_site_t;
hak_site_t hak_site_register(const char* name);
void* hak_malloc_at(size_t size, hak_site_t site);

#define HAK_SITE(name)                                                   \
  (__extension__({                                                       \
    static hak_site_t hak_site_cached_;                                  \
    hak_site_t hak_site_v_ = __atomic_load_n(&hak_site_cached_, __ATOMIC_RELAXED); \
    if (hak_site_v_ == 0) {                                              \
      hak_site_v_ = hak_site_register(name);                             \
      __atomic_store_n(&hak_site_cached_, hak_site_v_, __ATOMIC_RELAXED); \
    }                                                                    \
    hak_site_v_;                                                         \
  }))

#ifdef __cplusplus
}
#endif

#endif /* HAKMEM_CORE_HAKMEM_H_ */
