// A cheap timestamp for profiling and cost measurement: the CPU's time-stamp counter
// where it ticks at a constant rate, else CLOCK_MONOTONIC in nanoseconds.
//
// Why: every large block records its birth and death for the site profile, and the
// learner times sampled operations. A precise CLOCK_MONOTONIC read costs 26 ns on this
// kvm-clock VM (measured); rdtsc costs 11 ns. On the 2 MiB cycle benchmark the two
// clock reads per block were a quarter of the profiling cost.
//
// Ticks are converted to nanoseconds off the hot path (at free, at report time) with a
// rate calibrated against CLOCK_MONOTONIC: once from the interval since start-up as soon
// as that is long enough to make the error negligible (>= 1 ms, where a 30 ns gap between
// the paired reads is 0.003%), and exactly per call before that.
#ifndef HAKMEM_CORE_CYCLECLOCK_H_
#define HAKMEM_CORE_CYCLECLOCK_H_

#include <stdint.h>

#include "core/base.h"

namespace hakmem {
namespace cycleclock {

namespace internal {
// True when the TSC is invariant (CPUID 0x80000007 EDX bit 8); set by Init().
extern bool g_use_tsc;
uint64_t MonotonicNs();
}  // namespace internal

// Decides the source and records the calibration origin. Called once from the
// allocator's initialization; Now() before it returns CLOCK_MONOTONIC nanoseconds.
void Init();

HAK_INLINE uint64_t Now() {
#if defined(__x86_64__)
  if (HAK_LIKELY(internal::g_use_tsc)) return __builtin_ia32_rdtsc();
#endif
  return internal::MonotonicNs();
}

// Nanoseconds in `ticks` (a difference of two Now() values).
uint64_t ToNs(uint64_t ticks);

// Ticks per second (1e9 when the source is CLOCK_MONOTONIC). May read the clock once
// to calibrate.
double TicksPerSecond();

}  // namespace cycleclock
}  // namespace hakmem

#endif  // HAKMEM_CORE_CYCLECLOCK_H_
