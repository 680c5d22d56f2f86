// The seam between the allocator and the learner (learner/, a layer above). The route
// tells the learner what each routed allocation cost, and the learner publishes its
// decisions to the route table (core/route_table.h): the route itself never asks it
// anything. Weak, like profile_hooks.h: a core built without learner/ has none.
//
// None of this runs unless the learner is measuring (HAKMEM_MODE=learn or shadow): with
// the mode off or frozen the route pays one load of g_learner_measuring per request of
// 64 KiB and up, and requests below that never reach the route.
#ifndef HAKMEM_CORE_LEARNER_HOOKS_H_
#define HAKMEM_CORE_LEARNER_HOOKS_H_

#include <stddef.h>
#include <stdint.h>

#include "core/strategy.h"

namespace hakmem {

// Set by the learner at start-up when it measures (learn or shadow mode).
extern bool g_learner_measuring;
// Shadow mode: the learner also wants the touched pages of reused blocks (what they
// would have cost had they been fresh), to estimate the strategies it does not run.
extern bool g_learner_wants_all_pages;

// Starts the learner (reads the mode, loads a frozen table); called once from
// initialization after the options are loaded.
void LearnerInit() __attribute__((weak));

// A routed allocation of `size` bytes at `site` in `band`, served by `s` in `ticks`
// (cycleclock) of allocator time. `fresh`: its memory came straight from the OS, so its
// first touches will fault. Returns the learner's handle for the block (0: not followed);
// mapped blocks keep it in their header and report their free and idle time with it.
uint32_t LearnerOnAlloc(uintptr_t site, int band, Strategy s, size_t size, uint64_t ticks,
                        bool fresh) __attribute__((weak));
// The free of a followed mapped block: `ticks` of allocator time, and the pages the
// program touched (counted for fresh blocks, whose every touch was a fault, and for all
// blocks when g_learner_wants_all_pages; else 0). `cached`: the mapping went into
// BigCache, so its cost is complete only when LearnerOnCacheIdle closes its idle time.
// `requested` is the block's size as the program asked for it.
void LearnerOnFree(uint32_t handle, Strategy s, size_t requested, uint64_t ticks,
                   uint64_t touched_pages, bool fresh, bool cached) __attribute__((weak));
// A followed mapped block was resized in place (mremap) in `ticks` of allocator time.
void LearnerOnResize(uint32_t handle, Strategy s, uint64_t ticks) __attribute__((weak));
// A followed block's mapping waited `idle_ticks` in BigCache holding `bytes`, until it was
// reused or evicted; `requested` was the block's size.
void LearnerOnCacheIdle(uint32_t handle, size_t bytes, size_t requested, uint64_t idle_ticks)
    __attribute__((weak));

// For the site report: writes `"strategy": ..., "ratings": {...}, "samples": {...}` (JSON
// members, no braces) about `site` into buf; returns the length, 0 if nothing is known.
size_t LearnerDescribeSite(uintptr_t site, char* buf, size_t cap) __attribute__((weak));

// The allocation stream for replay (HAKMEM_TRACE, learner/trace.h): set once at start-up
// when tracing, then every routed allocation, free of a mapped block and in-place resize
// is reported. Requests below 64 KiB never reach it.
enum class TraceKind : uint8_t { kAlloc = 1, kFree = 2, kResize = 3 };
extern bool g_tracing;
void TraceRouted(TraceKind kind, uintptr_t site, const void* p, const void* old_p, size_t size,
                 Strategy s) __attribute__((weak));

inline bool LearnerLinked() { return &LearnerOnAlloc != nullptr; }

}  // namespace hakmem

#endif  // HAKMEM_CORE_LEARNER_HOOKS_H_
