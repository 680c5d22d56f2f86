// The seam between the allocator and the call-site profiler (callsite/, a layer above).
// The core calls these on its slow paths only: for each sampled small allocation and for
// every large one. They are weak: a build of the core without the profiler has none, and
// the core checks for that, so no registration or start-up order is involved.
#ifndef HAKMEM_CORE_PROFILE_HOOKS_H_
#define HAKMEM_CORE_PROFILE_HOOKS_H_

#include <stddef.h>
#include <stdint.h>

namespace hakmem {

// What the core tells the profiler about one recorded block.
struct ProfiledAlloc {
  uintptr_t site_key;  // a site key (SiteKeyOf), or the allocation call's return address
  size_t size;         // bytes requested
  double weight;       // allocations this record stands for (1 for exact counts)
};

// Where the program's allocation call keeps its return address: the canonical frame
// address (CFA) of the entry point it called, written by the entry points on their slow
// paths (malloc_api.cc, HAK_CALLER) beside the return address they read. The profiler
// compares it, never dereferences it: an allocation call that comes back at the same
// stack depth on the same thread is almost surely in the same context, so one verified
// context need not be unwound again.
extern __thread uintptr_t tl_call_frame __attribute__((tls_model("initial-exec")));

// The site key of an allocation made by the call that returns to `return_address`: the
// key of its calling context (callsite/context.h). Must be called inside that allocation,
// with the call still on the stack. Keys (explicit sites, contexts) pass unchanged.
uintptr_t ProfilerSiteKey(uintptr_t return_address) __attribute__((weak));

// Returns the site id to store with the block (0: not recorded).
uint32_t ProfilerRecordAlloc(const ProfiledAlloc& a) __attribute__((weak));
// `lifetime_ns` from allocation to free; `cross_thread` if freed by another thread.
void ProfilerRecordFree(uint32_t site, size_t size, double weight, uint64_t lifetime_ns,
                        bool cross_thread) __attribute__((weak));

inline bool ProfilerLinked() { return &ProfilerRecordAlloc != nullptr; }

// A core built without the profiler keys sites by return address.
inline uintptr_t SiteKeyOf(uintptr_t return_address) {
  return &ProfilerSiteKey != nullptr ? ProfilerSiteKey(return_address) : return_address;
}

}  // namespace hakmem

#endif  // HAKMEM_CORE_PROFILE_HOOKS_H_
