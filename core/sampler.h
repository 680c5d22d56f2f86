// Sampling of small allocations for the call-site profiler. The fast path subtracts each
// request from a per-thread byte countdown (ThreadCache::sample_left); when it goes
// negative, that allocation is sampled: it is served by the route with a header that
// records its site, weight and birth time, so its free (which reaches the route's slow
// path on its own, the block being outside every span) closes its lifetime. Unsampled
// allocations pay the subtraction and a predictable branch; unsampled frees pay nothing.
//
// Intervals are drawn from an exponential distribution with mean HAKMEM_SAMPLE_BYTES, so
// an allocation of s bytes is sampled with probability p = 1 - exp(-s / mean), and
// counting each sample as 1/p allocations (s/p bytes) gives unbiased estimates.
#ifndef HAKMEM_CORE_SAMPLER_H_
#define HAKMEM_CORE_SAMPLER_H_

#include <stddef.h>
#include <stdint.h>

#include "core/base.h"
#include "core/thread_cache.h"

namespace hakmem {

// Default mean sampling interval. Measured on random mixed (experiments/compare.py, the
// hakmem and hakmem-noprofile rows): at 512 KiB a sample costs a mapping plus a site
// record once per ~1000 allocations and the throughput difference is within noise;
// shorter intervals give tighter per-site estimates at a measurable cost.
inline constexpr int64_t kDefaultSampleBytes = 512 * 1024;

HAK_INLINE bool SampleDue(size_t size) {
  return HAK_UNLIKELY((tl_cache.sample_left -= static_cast<int64_t>(size)) < 0);
}

// The countdown ran out (or the thread's sampler is not set up yet): re-arms it and
// serves the request, sampled if profiling is on. `site_key` is the caller's return
// address or an explicit site token.
void* SampleAllocate(size_t size, size_t align, uintptr_t site_key);

// Probability-weighted count a sample of `size` bytes stands for, given mean `interval`.
double SampleWeight(size_t size, double interval);

// Whether sampled and large allocations are being recorded in this process.
bool ProfilingEnabled();

}  // namespace hakmem

#endif  // HAKMEM_CORE_SAMPLER_H_
