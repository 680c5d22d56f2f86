// The allocator as a whole over time, for telemetry: its totals (core/stats.h), the
// process's resident set, and per size class the spans held and objects handed out.
// Sampled by the telemetry writer (every HAKMEM_TELEMETRY_INTERVAL_MS, and at each write),
// never on an allocation path: a sample takes the components' locks.
//
// Bounded: kTimelineCapacity samples (about 3 KiB each, mapped on first use); past it the
// first half and the most recent half are kept and the rest counted as dropped.
#ifndef HAKMEM_LEARNER_TIMELINE_H_
#define HAKMEM_LEARNER_TIMELINE_H_

#include <stddef.h>
#include <stdint.h>

#include "learner/telemetry.nanopb.h"

namespace hakmem {
namespace learner {

// 4096 samples: 34 minutes at one every 500 ms before anything is dropped.
inline constexpr uint64_t kTimelineCapacity = 4096;

// Takes one sample, `time_ns` after the run's start. Callers serialize (the telemetry
// writer's lock). False if the samples' memory could not be mapped.
bool SampleAllocator(uint64_t time_ns);

// Samples kept so far, and the samples not kept.
size_t TimelineKept();
uint64_t TimelineDropped();
// The k-th kept sample, oldest first (k < TimelineKept()).
const hakmem_telemetry_AllocatorSample& TimelineSample(size_t k);

// In a forked child: the samples are the parent's; the child starts its own timeline.
void ResetTimelineAfterFork();

}  // namespace learner
}  // namespace hakmem

#endif  // HAKMEM_LEARNER_TIMELINE_H_
