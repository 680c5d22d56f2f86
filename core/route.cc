#include "core/route.h"

#include <errno.h>
#include <string.h>

#include <atomic>

#include "core/bigcache_hooks.h"
#include "core/check.h"
#include "core/cycleclock.h"
#include "core/decay.h"
#include "core/format.h"
#include "core/init.h"
#include "core/large.h"
#include "core/learner_hooks.h"
#include "core/options.h"
#include "core/os.h"
#include "core/page_map.h"
#include "core/profile_hooks.h"
#include "core/route_table.h"
#include "core/sampler.h"
#include "core/size_class.h"
#include "core/thread_cache.h"

namespace hakmem {
namespace {

std::atomic<uint64_t> g_foreign_frees{0};
std::atomic<uint64_t> g_fallbacks{0};

// A free of a pointer hakmem did not hand out is a bug in the host program (or a second
// free of a mapped block). Ignoring it keeps the process alive; the first one is reported.
void ReportForeign(const void* p, const char* what) {
  if constexpr (kChecking) {
    CheckFailed(what[0] == 'f' ? "free of a pointer hakmem did not hand out, or freed twice:"
                               : "malloc_usable_size of a pointer hakmem did not hand out:",
                p, 0);
  }
  if (g_foreign_frees.fetch_add(1, std::memory_order_relaxed) != 0) return;
  char buf[200];
  Formatter f(buf, sizeof(buf));
  f.Str("hakmem: ").Str(what).Str(" of ").Hex(reinterpret_cast<uintptr_t>(p));
  f.Str(", which hakmem did not allocate or already freed; ignored (reported once)\n");
  os::WriteStderr(buf, f.size());
}

Strategy Forced() {
  return static_cast<Strategy>(GetOption(Option::kStrategy));
}

}  // namespace

uint64_t StrategyFallbacks() { return g_fallbacks.load(std::memory_order_relaxed); }

Strategy RouteChoose(size_t size, uintptr_t site, bool* fell_back, size_t align) {
  const int band = BandOf(size);
  Strategy wanted = Forced();
  if (wanted == Strategy::kNone) wanted = RouteDecision(site, band);
  Strategy s = wanted != Strategy::kNone ? wanted : DefaultStrategy(band);
  if (!Eligible(s, band)) s = Strategy::kBigCache;  // the one strategy every band has
  // Blocks BigCache cannot hold (past its largest bin) are mapped directly: decided here,
  // not inside LargeAlloc, so that a forced or decided BigCache counts the fallback and
  // the learner hears of the strategy that served (at the allocation and at the free).
  if (s == Strategy::kBigCache && !LargeCacheable(size, align)) s = Strategy::kMmap;
  if (fell_back != nullptr) *fell_back = wanted != Strategy::kNone && wanted != s;
  return s;
}

void* RouteAllocate(size_t size, size_t align, bool* zeroed, uintptr_t site) {
  EnsureInitialized();
  MaybeReleaseIdleMemory();
  // Decisions, the learner and the profile all key on the calling context.
  site = SiteKeyOf(site);
  if (zeroed != nullptr) *zeroed = false;
  // A fallback counts once the other strategy has served the request (a request that
  // fails, e.g. for its size, was served by nothing).
  bool fell_back = false;
  Strategy s = RouteChoose(size, site, &fell_back, align);
  // With the learner measuring (learn or shadow mode), each routed allocation reports
  // its strategy's allocator time: the learner's only view of what the route did.
  const bool measure = g_learner_measuring && LearnerLinked();
  // The pool serves the middle band if it can give the alignment asked for.
  if (s == Strategy::kPool) {
    if (size < kLargeThreshold && align <= kMaxClassAlign) {
      if (!measure) {
        void* p = PoolAllocate(size, align, site);
        if (HAK_UNLIKELY(g_tracing) && p != nullptr) {
          TraceRouted(TraceKind::kAlloc, site, p, nullptr, size, Strategy::kPool);
        }
        return p;
      }
      const uint64_t t0 = cycleclock::Now();
      void* p = PoolAllocate(size, align, site);
      const uint64_t t1 = cycleclock::Now();
      // Pool blocks carry no header, so their frees are not followed: a free is a list
      // push, a few ns, and the learner counts the allocation's time alone.
      if (p != nullptr) LearnerOnAlloc(site, BandOf(size), Strategy::kPool, size, t1 - t0, false);
      if (HAK_UNLIKELY(g_tracing) && p != nullptr) {
        TraceRouted(TraceKind::kAlloc, site, p, nullptr, size, Strategy::kPool);
      }
      return p;
    }
    // An alignment the classes cannot give (over 64 KiB): a mapped block, counted.
    s = LargeCacheable(size, align) ? Strategy::kBigCache : Strategy::kMmap;
    fell_back = true;
  }
  BlockTag tag{};
  const bool profiled = ProfilingEnabled();
  if (profiled) {
    tag.thread = CurrentThreadTag();
    tag.weight = 1.0;
    tag.alloc_ticks = cycleclock::Now();
  }
  bool fresh = false;
  const uint64_t t0 = measure ? cycleclock::Now() : 0;
  void* p = LargeAlloc(size, align, s, tag, &fresh);
  if (p == nullptr) {
    errno = ENOMEM;
    return nullptr;
  }
  if (fell_back) g_fallbacks.fetch_add(1, std::memory_order_relaxed);
  // Profiled once the block exists: a request that failed (malloc(SIZE_MAX)) allocated
  // nothing, and counting its size as live bytes would poison the site's record for the
  // rest of the run (UBSan found the size overflowing the record's int64_t).
  if (profiled) LargeHeaderOf(p)->tag.site = ProfilerRecordAlloc(ProfiledAlloc{site, size, 1.0});
  if (measure) {
    LargeHeaderOf(p)->learn_handle =
        LearnerOnAlloc(site, BandOf(size), s, size, cycleclock::Now() - t0, fresh);
  }
  if (HAK_UNLIKELY(g_tracing)) TraceRouted(TraceKind::kAlloc, site, p, nullptr, size, s);
  if (zeroed != nullptr) *zeroed = fresh;
  return p;
}

void RouteDeallocate(void* p) {
  if (p == nullptr) return;
  // In the heap but in no span: a double free (or a wild pointer). The bytes below it
  // may not even be mapped, so do not look for a header there.
  if (InHeap(p)) {
    ReportForeign(p, "free");
    return;
  }
  if (IsLargeBlock(p)) {
    if (HAK_UNLIKELY(g_tracing)) {
      const LargeHeader* h = LargeHeaderOf(p);
      TraceRouted(TraceKind::kFree, 0, p, nullptr, h->requested_size, h->strategy);
    }
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

bool RouteReallocateInPlace(void* p, size_t size, uintptr_t site, void** out) {
  const LargeHeader* h = LargeHeaderOf(p);
  if (h->requested_size < kDecisionThreshold) {
    // A sampled block stands for a pool block of its class: it stays where the pool
    // would keep that block, so which reallocs move does not depend on which blocks the
    // sampler picked. Its mapping has room up to the class size.
    if (!ReallocStaysInClass(size, ClassSize(SizeToClass(h->requested_size)))) return false;
  } else if (size < kDecisionThreshold || BandOf(size) != BandOf(h->requested_size) ||
             RouteChoose(size, SiteKeyOf(site)) == Strategy::kPool) {
    // Same band and still a mapped strategy there: grow or shrink in place (mremap).
    // Otherwise the new size's band decides afresh, and the contents move.
    return false;
  }
  const uint32_t handle = g_learner_measuring && LearnerLinked() ? h->learn_handle : 0;
  const Strategy s = h->strategy;
  const uint64_t t0 = handle != 0 ? cycleclock::Now() : 0;
  bool must_move = false;
  *out = LargeRealloc(p, size, &must_move);  // h may be gone after this (mremap moves it)
  if (must_move) return false;  // no room in place: the contents move to a new block
  if (*out == nullptr) {
    errno = ENOMEM;
  } else if (handle != 0) {
    LearnerOnResize(handle, s, cycleclock::Now() - t0);
  }
  if (HAK_UNLIKELY(g_tracing) && *out != nullptr) {
    TraceRouted(TraceKind::kResize, SiteKeyOf(site), *out, p, size, s);
  }
  return true;
}

}  // namespace hakmem
