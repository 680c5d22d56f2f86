// Implements the core's profiling hooks (core/profile_hooks.h) and the explicit-site C API.
#include "callsite/profiler.h"

#include <string.h>

#include "callsite/context.h"
#include "callsite/module_map.h"
#include "core/arena.h"
#include "core/hakmem.h"
#include "core/init.h"
#include "core/sampler.h"
#include "core/profile_hooks.h"

namespace hakmem {

namespace {

// Set while this thread is inside the profiler: anything it allocates on the way (the
// loader, say) must not be profiled, or the table would recurse into itself.
__thread bool tl_in_profiler __attribute__((tls_model("initial-exec")));

class Reentry {
 public:
  Reentry() : entered_(!tl_in_profiler) { tl_in_profiler = true; }
  ~Reentry() {
    if (entered_) tl_in_profiler = false;
  }
  bool entered() const { return entered_; }

 private:
  bool entered_;
};

}  // namespace

// The thread's last site: programs allocate from the same site many times in a row (a
// loop cycling buffers), and a site's id never changes once the table has given it one.
__thread uintptr_t tl_last_key __attribute__((tls_model("initial-exec")));
__thread uint32_t tl_last_id __attribute__((tls_model("initial-exec")));

uintptr_t ProfilerSiteKey(uintptr_t return_address) {
  // hakmem's own work (the symbolizer at a report or telemetry write) is no site: key 0
  // takes the band's default, and neither the profile nor the learner records it.
  if (tl_in_profiler) return 0;
  return callsite::ContextKeyForCall(return_address);
}

uint32_t ProfilerRecordAlloc(const ProfiledAlloc& a) {
  Reentry guard;
  if (!guard.entered()) return 0;
  // Idempotent: the route has usually turned the return address into a key already.
  const uintptr_t key = callsite::ContextKeyForCall(a.site_key);
  callsite::SiteTable& t = callsite::Sites();
  uint32_t id = tl_last_id;
  if (key != tl_last_key || id == 0) {
    id = t.FindOrInsert(key);
    tl_last_key = key;
    tl_last_id = id;
  }
  if (id != 0) t.RecordAlloc(id, a.size, a.weight);
  return id;
}

void ProfilerRecordFree(uint32_t site, size_t size, double weight, uint64_t lifetime_ns,
                        bool cross_thread) {
  callsite::Sites().RecordFree(site, size, weight, lifetime_ns, cross_thread);
}

namespace callsite {

ScopedNoProfiling::ScopedNoProfiling() : was_(tl_in_profiler) { tl_in_profiler = true; }
ScopedNoProfiling::~ScopedNoProfiling() { tl_in_profiler = was_; }

uintptr_t NamedSiteKey(const char* name) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a (this basis: keys must not change)
  for (const char* p = name; *p != '\0'; ++p) {
    h = (h ^ static_cast<unsigned char>(*p)) * 1099511628211ull;
  }
  return kNamedSiteBit | (h >> 1);
}

uint64_t DroppedSites() { return Sites().dropped_sites(); }

void Snapshot(uint32_t id, Site* s, SiteSnapshot* out) {
  memset(out, 0, sizeof(*out));
  out->id = id;
  out->overflow = id == kOverflowSite;
  out->key = out->overflow ? 0 : s->key.load(std::memory_order_relaxed);
  if (!out->overflow && s->resolved.load(std::memory_order_acquire) != 0) {
    const uintptr_t key = s->key.load(std::memory_order_relaxed);
    if (key & kNamedSiteBit) {
      out->name = s->name;
    } else {
      out->context = s->context;
      out->address = s->context != nullptr ? s->context->address[0] : key;
      out->offset = s->offset;
      if (const Module* m = GetModule(s->module)) {
        out->module = m->path;
        out->build_id = m->build_id;
      }
    }
  }
  constexpr double kOne = static_cast<double>(kFixedOne);
  const uint64_t exact = s->exact_allocs.load(std::memory_order_relaxed);
  const uint64_t sampled = s->sampled_records.load(std::memory_order_relaxed);
  out->records = exact + sampled;
  out->estimated = sampled != 0;
  out->allocs = static_cast<double>(exact) +
                static_cast<double>(s->sampled_allocs_fx.load(std::memory_order_relaxed)) / kOne;
  out->frees = static_cast<double>(s->frees_fx.load(std::memory_order_relaxed)) / kOne;
  out->cross_thread_frees =
      static_cast<double>(s->cross_thread_frees_fx.load(std::memory_order_relaxed)) / kOne;
  out->bytes = s->bytes.load(std::memory_order_relaxed);
  out->live_bytes = s->live_bytes.load(std::memory_order_relaxed);
  out->peak_live_bytes = s->peak_live_bytes.load(std::memory_order_relaxed);
  for (int b = 0; b < kSizeBuckets; ++b) {
    out->size_histogram[b] = static_cast<double>(s->size_fx.Get(b)) / kOne;
  }
  for (int b = 0; b < kLifetimeBuckets; ++b) {
    out->lifetime_histogram[b] =
        static_cast<double>(s->lifetime_fx.Get(b)) / kOne;
  }
}

}  // namespace callsite
}  // namespace hakmem

// ---- explicit sites ----

extern "C" __attribute__((visibility("default"))) hak_site_t hak_site_register(const char* name) {
  if (name == nullptr || name[0] == '\0') return 0;
  const uintptr_t key = hakmem::callsite::NamedSiteKey(name);
  // With profiling off the key is all a caller needs; nothing is recorded.
  hakmem::EnsureInitialized();
  if (!hakmem::ProfilingEnabled()) return key;
  hakmem::callsite::SiteTable& t = hakmem::callsite::Sites();
  const uint32_t id = t.FindOrInsert(key);
  hakmem::callsite::Site* s = t.Get(id);
  if (s != nullptr && id != hakmem::callsite::kOverflowSite && s->name == nullptr) {
    const size_t n = strlen(name);
    char* copy = static_cast<char*>(hakmem::ArenaAllocate(n + 1));
    if (copy != nullptr) {
      memcpy(copy, name, n + 1);
      __atomic_store_n(&s->name, copy, __ATOMIC_RELEASE);
    }
  }
  return key;
}
