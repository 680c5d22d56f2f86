#include "core/sampler.h"

#include <errno.h>

#include "core/cycleclock.h"
#include "core/fastmath.h"
#include "core/init.h"
#include "core/large.h"
#include "core/options.h"
#include "core/os.h"
#include "core/profile_hooks.h"
#include "core/size_class.h"

namespace hakmem {
namespace {

constexpr int64_t kNever = int64_t{1} << 62;

uint64_t NextRandom(uint64_t* state) {  // xorshift64*
  uint64_t x = *state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *state = x;
  return x * 0x2545F4914F6CDD1Dull;
}

int64_t DrawInterval(ThreadCache& tc) {
  if (!ProfilingEnabled()) return kNever;
  const double mean = static_cast<double>(GetOption(Option::kSampleBytes));
  // u in (0, 1]: 53 random bits, never 0.
  const double u = static_cast<double>((NextRandom(&tc.rng) >> 11) + 1) * (1.0 / 9007199254740992.0);
  const double interval = -Log(u) * mean;
  return interval > static_cast<double>(kNever) ? kNever : static_cast<int64_t>(interval) + 1;
}

// The ordinary small-object path, without the countdown.
void* AllocateUnsampled(size_t size, size_t align) {
  if (align <= kMinAlign) return AllocateSmall(SizeToClass(size));
  return AllocateSmall(AlignedSizeToClass(size, align));
}

}  // namespace

void* PoolAllocate(size_t size, size_t align, uintptr_t site) {
  if (SampleDue(size)) return SampleAllocate(size, align, site);
  return AllocateUnsampled(size, align);
}

bool ProfilingEnabled() { return ProfilerLinked() && GetOption(Option::kProfileSites) != 0; }

double SampleWeight(size_t size, double interval) {
  const double p = OneMinusExpNeg(static_cast<double>(size) / interval);
  return p > 0.0 ? 1.0 / p : interval / static_cast<double>(size == 0 ? 1 : size);
}

void* SampleAllocate(size_t size, size_t align, uintptr_t site_key) {
  EnsureInitialized();
  ThreadCache& tc = tl_cache;
  if (HAK_UNLIKELY(tc.rng == 0)) {
    // First allocation of this thread: seed, arm, and serve it unsampled (the first
    // interval is drawn fresh, so this keeps the estimates unbiased).
    tc.rng = (static_cast<uint64_t>(CurrentThreadTag()) << 32) ^ os::NowNs() ^ 0x9E3779B97F4A7C15ull;
    if (tc.rng == 0) tc.rng = 1;
    tc.sample_left = DrawInterval(tc);
    return AllocateUnsampled(size, align);
  }
  tc.sample_left = DrawInterval(tc);
  if (!ProfilingEnabled()) return AllocateUnsampled(size, align);
  const double weight = SampleWeight(size, static_cast<double>(GetOption(Option::kSampleBytes)));
  BlockTag tag{};
  tag.site = ProfilerRecordAlloc(ProfiledAlloc{site_key, size, weight});
  if (tag.site == 0) return AllocateUnsampled(size, align);
  tag.thread = CurrentThreadTag();
  tag.weight = weight;
  tag.alloc_ticks = cycleclock::Now();
  bool fresh;
  // Sampled blocks are mappings reused through BigCache (mmap and munmap per sample would
  // cost more than the profiling is allowed to).
  void* p = LargeAlloc(size, align, Strategy::kBigCache, tag, &fresh);
  if (p != nullptr) return p;
  // No mapping to be had: the record stays (the allocation happened), the block does not
  // carry it; the pool may still serve it.
  return AllocateUnsampled(size, align);
}

}  // namespace hakmem
