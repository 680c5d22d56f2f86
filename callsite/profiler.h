// The call-site profiler's read side, for the learner and telemetry: iterate the sites
// with their keys and statistics. Recording happens through core/profile_hooks.h.
#ifndef HAKMEM_CALLSITE_PROFILER_H_
#define HAKMEM_CALLSITE_PROFILER_H_

#include <stddef.h>
#include <stdint.h>

#include "callsite/site_table.h"

namespace hakmem {
namespace callsite {

// A consistent-enough copy of one site's record (counters are read one by one while
// other threads may be adding to them).
struct SiteSnapshot {
  uint32_t id;
  bool overflow;              // the bucket for sites that found the table full
  const char* module;         // path; nullptr if unknown
  const char* build_id;       // hex; "" if the module has none
  uint64_t offset;            // from the module's load base
  const char* name;           // explicit sites (hak_site_register); else nullptr
  uintptr_t address;          // the allocation call's return address in this process
                              // (0 for explicit sites)
  uintptr_t key;              // the site's key: its context's (context.h), or an explicit
                              // site's token
  const Context* context;     // every frame of the calling context; nullptr for explicit
                              // sites and the overflow bucket
  bool estimated;             // some records are samples: counts are estimates
  uint64_t records;           // samples plus exact records
  double allocs, frees, cross_thread_frees;
  uint64_t bytes;
  int64_t live_bytes, peak_live_bytes;
  double size_histogram[kSizeBuckets];
  double lifetime_histogram[kLifetimeBuckets];
};

// The key of the explicit site named `name` (hak_site_register): a hash of the name, so
// the same name gives the same site in every run.
uintptr_t NamedSiteKey(const char* name);

// Calls fn(const SiteSnapshot&) for every site, the overflow bucket last.
template <typename Fn>
void ForEachSite(Fn fn);

uint64_t DroppedSites();

// While alive, allocations by this thread are not recorded (the profiler's own work).
class ScopedNoProfiling {
 public:
  ScopedNoProfiling();
  ~ScopedNoProfiling();
  ScopedNoProfiling(const ScopedNoProfiling&) = delete;
  ScopedNoProfiling& operator=(const ScopedNoProfiling&) = delete;

 private:
  bool was_;
};

void Snapshot(uint32_t id, Site* s, SiteSnapshot* out);

template <typename Fn>
void ForEachSite(Fn fn) {
  Sites().ForEach([&fn](uint32_t id, Site* s) {
    SiteSnapshot snap;
    Snapshot(id, s, &snap);
    fn(static_cast<const SiteSnapshot&>(snap));
  });
}

}  // namespace callsite
}  // namespace hakmem

#endif  // HAKMEM_CALLSITE_PROFILER_H_
