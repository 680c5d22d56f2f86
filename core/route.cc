#include "core/route.h"

#include <errno.h>

#include <atomic>

#include "core/decay.h"
#include "core/format.h"
#include "core/init.h"
#include "core/large.h"
#include "core/os.h"
#include "core/page_map.h"
#include "core/profile_hooks.h"
#include "core/sampler.h"
#include "core/thread_cache.h"

namespace hakmem {
namespace {

std::atomic<uint64_t> g_foreign_frees{0};

// A free of a pointer hakmem did not hand out is a bug in the host program (or a second
// free of a large block). Ignoring it keeps the process alive; the first one is reported.
void ReportForeign(const void* p, const char* what) {
  if (g_foreign_frees.fetch_add(1, std::memory_order_relaxed) != 0) return;
  char buf[200];
  Formatter f(buf, sizeof(buf));
  f.Str("hakmem: ").Str(what).Str(" of ").Hex(reinterpret_cast<uintptr_t>(p));
  f.Str(", which hakmem did not allocate or already freed; ignored (reported once)\n");
  os::WriteStderr(buf, f.size());
}

}  // namespace

void* RouteAllocate(size_t size, size_t align, bool* zeroed, uintptr_t site) {
  EnsureInitialized();
  MaybeReleaseIdleMemory();
  BlockTag tag{};
  if (ProfilingEnabled()) {
    tag.site = ProfilerRecordAlloc(ProfiledAlloc{site, size, 1.0});
    tag.thread = CurrentThreadTag();
    tag.weight = 1.0;
    tag.alloc_ns = os::NowNs();
  }
  bool fresh = false;
  void* p = LargeAlloc(size, align, &fresh, tag);
  if (p == nullptr) {
    errno = ENOMEM;
    return nullptr;
  }
  if (zeroed != nullptr) *zeroed = fresh;
  return p;
}

void RouteDeallocate(void* p) {
  if (p == nullptr) return;
  // In the heap but in no span: a double free (or a wild pointer). The bytes below it
  // may not even be mapped, so do not look for a large-block header there.
  if (InHeap(p)) {
    ReportForeign(p, "free");
    return;
  }
  if (IsLargeBlock(p)) {
    LargeFree(p);
    MaybeReleaseIdleMemory();
    return;
  }
  ReportForeign(p, "free");
}

size_t RouteUsableSize(const void* p) {
  if (p == nullptr) return 0;
  if (!InHeap(p) && IsLargeBlock(p)) return LargeUsableSize(p);
  ReportForeign(p, "malloc_usable_size");
  return 0;
}

void* RouteReallocate(void* p, size_t size) {
  if (InHeap(p) || !IsLargeBlock(p)) {
    ReportForeign(p, "realloc");
    errno = EINVAL;
    return nullptr;
  }
  void* q = LargeRealloc(p, size);
  if (q == nullptr) errno = ENOMEM;
  return q;
}

}  // namespace hakmem
