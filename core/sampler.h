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

// Default mean sampling interval: 1 MiB. Measured with callgrind on random mixed at
// W=256 (4M ops; instruction counts, which repeat exactly): profiling costs +1.6% of
// instructions at 256 KiB, +0.78% at 512 KiB, +0.2% at 2 MiB (about 1000 instructions
// per sample, alloc and free). Wall-clock noise here is about +-2%, so the bar ("within
// 2% of profiling off") needs headroom; 1 MiB keeps the cost near 0.4% while a site with
// a million small allocations still gets ~50 samples (about +-14%). Large allocations
// are counted exactly whatever this is. tcmalloc samples every 2 MiB.
inline constexpr int64_t kDefaultSampleBytes = 1024 * 1024;

HAK_INLINE bool SampleDue(size_t size) {
  return HAK_UNLIKELY(tls::SubtractSampleBytes(static_cast<int64_t>(size)));
}

// The countdown ran out (or the thread's sampler is not set up yet): re-arms it and
// serves the request, sampled if profiling is on. `site_key` is the caller's return
// address or an explicit site token.
void* SampleAllocate(size_t size, size_t align, uintptr_t site_key);

// The pool with sampling, for requests below kLargeThreshold at `align` <= kMaxClassAlign
// that come from outside the inline fast path (aligned requests, the route's middle band).
void* PoolAllocate(size_t size, size_t align, uintptr_t site);

// Probability-weighted count a sample of `size` bytes stands for, given mean `interval`.
double SampleWeight(size_t size, double interval);

// Whether sampled and large allocations are being recorded in this process.
bool ProfilingEnabled();

}  // namespace hakmem

#endif  // HAKMEM_CORE_SAMPLER_H_
