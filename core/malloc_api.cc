// The exported entry points: the C allocation API, the C++ operator new/delete family
// and the hak_* API. Each is a thin wrapper over allocator.h; policy lives there.
#include <dlfcn.h>
#include <errno.h>
#include <string.h>

#include <new>

#include "core/allocator.h"
#include "core/decay.h"
#include "core/route_table.h"
#include "core/hakmem.h"
#include "core/profile_hooks.h"
#include "core/stats.h"
#include "core/version.h"

using hakmem::Deallocate;

// The call site of an allocation: the address the exported entry point returns to. Read
// here, in the function the program called, so it names the program's code, not ours;
// with it, where that address is kept (the entry's CFA, see profile_hooks.h). Both only
// on slow paths: the macro is evaluated only in the calls that leave the fast path.
#define HAK_CALLER()                                                                    \
  (hakmem::tl_call_frame = reinterpret_cast<uintptr_t>(__builtin_dwarf_cfa()),          \
   reinterpret_cast<uintptr_t>(__builtin_return_address(0)))

namespace {

constexpr size_t kPage = 4096;

inline bool IsPowerOfTwo(size_t x) { return x != 0 && (x & (x - 1)) == 0; }

// operator new must not return nullptr: call the new-handler until it gives up, then
// throw std::bad_alloc. Both come from the program's own libstdc++, looked up when first
// needed: any program that calls operator new has libstdc++ loaded, and not linking it
// keeps it (about 1.3 MiB of resident pages) out of C programs hakmem is preloaded into.
using GetNewHandlerFn = std::new_handler (*)();
using ThrowBadAllocFn = void (*)();

HAK_NOINLINE void* NewSlow(size_t size, size_t align, bool nothrow, uintptr_t site) {
  static GetNewHandlerFn get_handler = nullptr;
  if (get_handler == nullptr) {
    get_handler = reinterpret_cast<GetNewHandlerFn>(dlsym(RTLD_DEFAULT, "_ZSt15get_new_handlerv"));
  }
  for (;;) {
    void* p = align <= hakmem::kMinAlign ? hakmem::Allocate(size, site)
                                         : hakmem::AllocateAligned(align, size, site);
    if (p != nullptr) return p;
    std::new_handler h = get_handler != nullptr ? get_handler() : nullptr;
    if (h == nullptr) break;
    h();  // frees memory, throws, or terminates; a throw from a nothrow form terminates
  }
  if (nothrow) return nullptr;
  auto throw_bad_alloc =
      reinterpret_cast<ThrowBadAllocFn>(dlsym(RTLD_DEFAULT, "_ZSt17__throw_bad_allocv"));
  if (throw_bad_alloc != nullptr) throw_bad_alloc();
  hakmem::FatalError("operator new: out of memory and no std::bad_alloc to throw", __FILE__,
                     __LINE__);
}

// A macro, not a function: the caller's address must be read in the entry point itself,
// and only on its slow path.
#define HAK_NEW_BODY(size)                                     \
  do {                                                         \
    void* p_ = hakmem::TryAllocateFast(size);                  \
    if (HAK_LIKELY(p_ != nullptr)) return p_;                  \
    p_ = hakmem::AllocateSlow(size, HAK_CALLER());             \
    if (HAK_LIKELY(p_ != nullptr)) return p_;                  \
    return NewSlow(size, 0, false, HAK_CALLER());              \
  } while (0)

HAK_INLINE void* NewAligned(size_t size, std::align_val_t align, uintptr_t site) {
  void* p = hakmem::AllocateAligned(static_cast<size_t>(align), size, site);
  if (HAK_LIKELY(p != nullptr)) return p;
  return NewSlow(size, static_cast<size_t>(align), false, site);
}

HAK_INLINE void* NewNothrow(size_t size, size_t align, uintptr_t site) noexcept {
  void* p = align <= hakmem::kMinAlign ? hakmem::Allocate(size, site)
                                       : hakmem::AllocateAligned(align, size, site);
  if (HAK_LIKELY(p != nullptr)) return p;
  return NewSlow(size, align, true, site);
}

}  // namespace

HAK_EXPORT void* malloc(size_t size) {
  void* p = hakmem::TryAllocateFast(size);
  if (HAK_LIKELY(p != nullptr)) return p;
  return hakmem::AllocateSlow(size, HAK_CALLER());
}
HAK_EXPORT void free(void* p) { Deallocate(p); }
HAK_EXPORT void* calloc(size_t n, size_t size) {
  return hakmem::AllocateZeroed(n, size, HAK_CALLER());
}
HAK_EXPORT void* realloc(void* p, size_t size) {
  return hakmem::Reallocate(p, size, HAK_CALLER());
}

HAK_EXPORT void* reallocarray(void* p, size_t n, size_t size) {
  size_t total;
  if (__builtin_mul_overflow(n, size, &total)) {
    errno = ENOMEM;
    return nullptr;
  }
  return hakmem::Reallocate(p, total, HAK_CALLER());
}

HAK_EXPORT int posix_memalign(void** out, size_t align, size_t size) {
  if (!IsPowerOfTwo(align) || align % sizeof(void*) != 0) return EINVAL;
  const int saved = errno;  // posix_memalign reports through its result, not errno
  void* p = hakmem::AllocateAligned(align, size, HAK_CALLER());
  if (p == nullptr) {
    errno = saved;
    return ENOMEM;
  }
  *out = p;
  return 0;
}

HAK_EXPORT void* aligned_alloc(size_t align, size_t size) {
  if (!IsPowerOfTwo(align)) {  // glibc accepts any size; it rejects only bad alignments
    errno = EINVAL;
    return nullptr;
  }
  return hakmem::AllocateAligned(align, size, HAK_CALLER());
}

HAK_EXPORT void* memalign(size_t align, size_t size) {
  if (align > (SIZE_MAX >> 1) + 1) {
    errno = EINVAL;
    return nullptr;
  }
  // glibc rounds a non-power-of-two alignment up to the next power of two.
  size_t a = 1;
  while (a < align) a <<= 1;
  return hakmem::AllocateAligned(a, size, HAK_CALLER());
}

HAK_EXPORT void* valloc(size_t size) {
  return hakmem::AllocateAligned(kPage, size, HAK_CALLER());
}

HAK_EXPORT void* pvalloc(size_t size) {
  if (size > SIZE_MAX - kPage) {
    errno = ENOMEM;
    return nullptr;
  }
  const size_t rounded = size == 0 ? kPage : (size + kPage - 1) & ~(kPage - 1);
  return hakmem::AllocateAligned(kPage, rounded, HAK_CALLER());
}

HAK_EXPORT size_t malloc_usable_size(void* p) { return hakmem::UsableSize(p); }

// ---- C++ ----
#define HAK_CXX __attribute__((visibility("default")))

HAK_CXX void* operator new(size_t size) { HAK_NEW_BODY(size); }
HAK_CXX void* operator new[](size_t size) { HAK_NEW_BODY(size); }
HAK_CXX void* operator new(size_t size, const std::nothrow_t&) noexcept {
  return NewNothrow(size, 0, HAK_CALLER());
}
HAK_CXX void* operator new[](size_t size, const std::nothrow_t&) noexcept {
  return NewNothrow(size, 0, HAK_CALLER());
}
HAK_CXX void* operator new(size_t size, std::align_val_t a) {
  return NewAligned(size, a, HAK_CALLER());
}
HAK_CXX void* operator new[](size_t size, std::align_val_t a) {
  return NewAligned(size, a, HAK_CALLER());
}
HAK_CXX void* operator new(size_t size, std::align_val_t a, const std::nothrow_t&) noexcept {
  return NewNothrow(size, static_cast<size_t>(a), HAK_CALLER());
}
HAK_CXX void* operator new[](size_t size, std::align_val_t a, const std::nothrow_t&) noexcept {
  return NewNothrow(size, static_cast<size_t>(a), HAK_CALLER());
}

HAK_CXX void operator delete(void* p) noexcept { Deallocate(p); }
HAK_CXX void operator delete[](void* p) noexcept { Deallocate(p); }
HAK_CXX void operator delete(void* p, size_t) noexcept { Deallocate(p); }
HAK_CXX void operator delete[](void* p, size_t) noexcept { Deallocate(p); }
HAK_CXX void operator delete(void* p, const std::nothrow_t&) noexcept { Deallocate(p); }
HAK_CXX void operator delete[](void* p, const std::nothrow_t&) noexcept { Deallocate(p); }
HAK_CXX void operator delete(void* p, std::align_val_t) noexcept { Deallocate(p); }
HAK_CXX void operator delete[](void* p, std::align_val_t) noexcept { Deallocate(p); }
HAK_CXX void operator delete(void* p, size_t, std::align_val_t) noexcept { Deallocate(p); }
HAK_CXX void operator delete[](void* p, size_t, std::align_val_t) noexcept { Deallocate(p); }
HAK_CXX void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { Deallocate(p); }
HAK_CXX void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { Deallocate(p); }

// ---- hak_* ----
HAK_EXPORT const char* hak_version(void) { return hakmem::kVersion; }

HAK_EXPORT int hak_stats(struct hak_stats* out, size_t size) {
  if (out == nullptr || size < sizeof(uint64_t)) {
    errno = EINVAL;
    return -1;
  }
  const hakmem::Stats s = hakmem::GetStats();
  struct hak_stats full = {s.bytes_from_os, s.heap_reserved_bytes, s.heap_span_bytes,
                           s.heap_dirty_free_bytes, s.large_allocs, s.large_frees,
                           s.large_reuses, s.large_live_bytes, s.large_peak_live_bytes,
                           s.released_bytes, s.mmap_calls, s.munmap_calls, s.madvise_calls,
                           s.mremap_calls, s.mapped_by_bigcache, s.mapped_by_mmap,
                           s.bigcache_hits, s.bigcache_misses, s.bigcache_evictions,
                           s.bigcache_bytes, s.bigcache_faults_saved, s.strategy_fallbacks,
                           s.bigcache_gathers, s.bigcache_moved_bytes};
  memcpy(out, &full, size < sizeof(full) ? size : sizeof(full));
  return 0;
}

HAK_EXPORT size_t hak_release_memory(void) { return hakmem::ReleaseAllIdleMemory(); }

HAK_EXPORT int hak_route_set(uint64_t site, size_t size, int strategy) {
  if (size < hakmem::kDecisionThreshold || strategy < 0 || strategy > HAK_STRATEGY_MMAP ||
      !hakmem::PublishRouteDecision(site, hakmem::BandOf(size),
                                    static_cast<hakmem::Strategy>(strategy))) {
    errno = EINVAL;
    return -1;
  }
  return 0;
}

HAK_EXPORT void* hak_malloc(size_t size) { return hakmem::Allocate(size, HAK_CALLER()); }
HAK_EXPORT void* hak_calloc(size_t n, size_t size) {
  return hakmem::AllocateZeroed(n, size, HAK_CALLER());
}
HAK_EXPORT void* hak_realloc(void* p, size_t size) {
  return hakmem::Reallocate(p, size, HAK_CALLER());
}
HAK_EXPORT void* hak_aligned_alloc(size_t align, size_t size) { return aligned_alloc(align, size); }
HAK_EXPORT void* hak_malloc_at(size_t size, hak_site_t site) {
  return hakmem::Allocate(size, site != 0 ? static_cast<uintptr_t>(site) : HAK_CALLER());
}
HAK_EXPORT void hak_free(void* p) { Deallocate(p); }
HAK_EXPORT size_t hak_usable_size(const void* p) { return hakmem::UsableSize(p); }
