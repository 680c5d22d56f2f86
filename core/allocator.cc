#include "core/allocator.h"

#include <errno.h>
#include <string.h>

#include "core/profile_hooks.h"

namespace hakmem {

__thread uintptr_t tl_call_frame __attribute__((tls_model("initial-exec")));

void* AllocateSlow(size_t size, uintptr_t site) {
  if (size >= kDecisionThreshold) return RouteAllocate(size, kMinAlign, nullptr, site);
  return PoolAllocateSlow(SizeToClass(size), size, kMinAlign, site);
}

void* AllocateAligned(size_t align, size_t size, uintptr_t site) {
  if (align <= kMinAlign) return Allocate(size, site);
  if (align <= kMaxClassAlign && size < kDecisionThreshold) return PoolAllocate(size, align, site);
  return RouteAllocate(size, align, nullptr, site);
}

void* AllocateZeroed(size_t n, size_t size, uintptr_t site) {
  size_t total;
  if (HAK_UNLIKELY(__builtin_mul_overflow(n, size, &total))) {
    errno = ENOMEM;
    return nullptr;
  }
  if (total < kDecisionThreshold) {
    void* p = Allocate(total, site);  // a sampled block may be a reused mapping: zero it
    if (p != nullptr) memset(p, 0, total);
    return p;
  }
  bool zeroed = false;
  void* p = RouteAllocate(total, kMinAlign, &zeroed, site);
  // Fresh mappings read as zero: skipping the memset keeps a sparse calloc from
  // committing every page.
  if (p != nullptr && !zeroed) memset(p, 0, total);
  return p;
}

void* Reallocate(void* p, size_t size, uintptr_t site) {
  if (p == nullptr) return Allocate(size, site);
  if (size == 0) {  // glibc frees and returns nullptr; programs tested on glibc expect it
    Deallocate(p);
    return nullptr;
  }
  const int c = PageClassOf(p);
  size_t old_usable;
  if (c != 0) {
    old_usable = ClassSize(c);
    if (ReallocStaysInClass(size, old_usable)) return p;
  } else {
    old_usable = RouteUsableSize(p);
    if (old_usable == 0) {  // foreign pointer: reported by the route
      errno = EINVAL;
      return nullptr;
    }
    // A mapped block keeps its strategy within its band (mremap); else it moves below.
    void* q;
    if (RouteReallocateInPlace(p, size, site, &q)) return q;
  }
  void* q = Allocate(size, site);
  if (q == nullptr) return nullptr;  // the old block stays valid, as C requires
  memcpy(q, p, old_usable < size ? old_usable : size);
  Deallocate(p);
  return q;
}

size_t UsableSize(const void* p) {
  const int c = PageClassOf(p);
  if (c != 0) return ClassSize(c);
  return RouteUsableSize(p);
}

}  // namespace hakmem
