// Sampling of small allocations for the call-site profiler.
//
// Each size class of each thread keeps a countdown of allocations to skip before the
// next sample. It lives in the class's free list, in the same 32-bit word as the list's
// length, so the pop that serves an allocation decrements both with one instruction and
// the sampler costs the fast path no memory access of its own (a separate byte countdown
// cost about 1% on random mixed, measured side by side; see thread_cache.h). When the
// countdown goes negative the pop is undone and the slow path decides: that allocation
// is sampled, and served by the route with a header that records its site, weight and
// birth time, so its free (which reaches the route's slow path on its own, the block
// being outside every span) closes its lifetime. Unsampled frees pay nothing.
//
// The number of allocations skipped is drawn from a geometric distribution, so every
// allocation from a class of s bytes is sampled independently with probability
// p = 1 - exp(-s / mean), where mean is HAKMEM_SAMPLE_BYTES: on average one sample per
// `mean` bytes allocated, as with a byte countdown with exponential intervals (tcmalloc's
// scheme), and counting each sample as 1/p allocations gives unbiased estimates.
#ifndef HAKMEM_CORE_SAMPLER_H_
#define HAKMEM_CORE_SAMPLER_H_

#include <stddef.h>
#include <stdint.h>

#include "core/base.h"
#include "core/size_class.h"
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

// Serves a pool allocation of class `c` (`size` bytes at `align`) that TryPop did not:
// the class's countdown ran out or its list is empty. Counts it for the sampler if
// TryPop did not, samples it if its turn has come, else pops or refills.
void* PoolAllocateSlow(int c, size_t size, size_t align, uintptr_t site);

// The pool with sampling, for requests below kLargeThreshold at `align` <= kMaxClassAlign
// that come from outside the inline fast path (aligned requests, the route's middle band).
HAK_INLINE void* PoolAllocate(size_t size, size_t align, uintptr_t site) {
  const int c = align <= kMinAlign ? SizeToClass(size) : AlignedSizeToClass(size, align);
  void* p = TryPop(c);
  if (HAK_LIKELY(p != nullptr)) return p;
  return PoolAllocateSlow(c, size, align, site);
}

// Probability-weighted count a sample from a class of `size` bytes stands for, given
// mean `interval`: 1 / (1 - exp(-size / interval)).
double SampleWeight(size_t size, double interval);

// Allocations of a class of `size` bytes to skip before the next sample, for a uniform
// draw `u` in (0, 1]: floor(-ln(u) * interval / size), geometric with success
// probability 1 - exp(-size / interval).
int64_t SkipsBeforeSample(double u, size_t size, double interval);

// Whether sampled and large allocations are being recorded in this process.
bool ProfilingEnabled();

// Small allocations served as sampled mapped blocks so far (they are BigCache blocks in
// the mapped-block counts, but no route decided them).
uint64_t SampledBlocks();

}  // namespace hakmem

#endif  // HAKMEM_CORE_SAMPLER_H_
