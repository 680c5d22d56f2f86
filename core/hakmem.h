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
  uint64_t large_allocs;        /* blocks over 256 KiB (or over-aligned) */
  uint64_t large_frees;
  uint64_t large_reuses;        /* large allocations served from a retained mapping */
  uint64_t large_live_bytes;
  uint64_t large_peak_live_bytes;
  uint64_t large_retained_bytes;
  uint64_t released_bytes;      /* returned to the OS after decay or by hak_release_memory */
  uint64_t mmap_calls, munmap_calls, madvise_calls, mremap_calls;
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

#ifdef __cplusplus
}
#endif

#endif /* HAKMEM_CORE_HAKMEM_H_ */
