#include "core/sampler.h"

#include <errno.h>

#include <atomic>

#include "core/cycleclock.h"
#include "core/fastmath.h"
#include "core/init.h"
#include "core/large.h"
#include "core/options.h"
#include "core/os.h"
#include "core/profile_hooks.h"

namespace hakmem {
namespace {

// What a list's 16-bit countdown can hold; longer skips continue in sample_rest.
constexpr int64_t kMaxCountdown = 32767;
// Skips drawn while profiling is off: the slow path then runs once per 32768 pops of a
// class, to re-arm.
constexpr int64_t kNever = int64_t{1} << 50;

uint64_t NextRandom(uint64_t* state) {  // xorshift64*
  uint64_t x = *state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *state = x;
  return x * 0x2545F4914F6CDD1Dull;
}

double MeanInterval() { return static_cast<double>(GetOption(Option::kSampleBytes)); }

int64_t DrawSkips(ThreadCache& tc, int c) {
  if (!ProfilingEnabled()) return kNever;
  // u in (0, 1]: 53 random bits, never 0.
  const double u = static_cast<double>((NextRandom(&tc.rng) >> 11) + 1) * (1.0 / 9007199254740992.0);
  return SkipsBeforeSample(u, ClassSize(c), MeanInterval());
}

// Sets class c to skip `skips` allocations, then sample the next one.
void Arm(ThreadCache& tc, int c, int64_t skips) {
  const int64_t now = skips < kMaxCountdown ? skips : kMaxCountdown;
  tc.lists[c].sample_countdown = static_cast<int16_t>(now);
  tc.sample_rest[c] = skips - now + 1;
}

// Called for an allocation of class c that took the countdown below zero. Returns
// whether it is to be sampled; re-arms the class either way.
bool TakeSample(ThreadCache& tc, int c) {
  const int64_t rest = tc.sample_rest[c] - 1;  // skips still due beyond the countdown
  if (HAK_UNLIKELY(rest < 0)) {
    // Not armed: this thread's first allocation of the class. Seed, arm, and serve it
    // unsampled (the draw is fresh and memoryless, so the estimates stay unbiased).
    if (tc.rng == 0) {
      tc.rng = (static_cast<uint64_t>(CurrentThreadTag()) << 32) ^ os::NowNs() ^ 0x9E3779B97F4A7C15ull;
      if (tc.rng == 0) tc.rng = 1;
    }
    Arm(tc, c, DrawSkips(tc, c));
    return false;
  }
  if (rest > 0) {  // a long skip continues: this allocation is one of them
    Arm(tc, c, rest - 1);
    return false;
  }
  Arm(tc, c, DrawSkips(tc, c));
  return ProfilingEnabled();
}

std::atomic<uint64_t> g_sampled_blocks{0};

// Serves a sampled allocation from a mapping whose header carries the profile record;
// nullptr if it cannot (the caller then serves it from the pool).
void* SampleAllocate(int c, size_t size, size_t align, uintptr_t site_key) {
  const double weight = SampleWeight(ClassSize(c), MeanInterval());
  BlockTag tag{};
  tag.site = ProfilerRecordAlloc(ProfiledAlloc{site_key, size, weight});
  if (tag.site == 0) return nullptr;
  tag.thread = CurrentThreadTag();
  tag.weight = weight;
  tag.alloc_ticks = cycleclock::Now();
  bool fresh;
  // Sampled blocks are mappings reused through BigCache (mmap and munmap per sample would
  // cost more than the profiling is allowed to). With no mapping to be had, the record
  // stays (the allocation happened) and the block does not carry it.
  void* p = LargeAlloc(size, align, Strategy::kBigCache, tag, &fresh);
  if (p != nullptr) g_sampled_blocks.fetch_add(1, std::memory_order_relaxed);
  return p;
}

}  // namespace

void* PoolAllocateSlow(int c, size_t size, size_t align, uintptr_t site) {
  EnsureInitialized();
  ThreadCache& tc = tl_cache;
  FreeList& l = tc.lists[c];
  // A countdown TryPop took below zero is still negative; an empty list's pop never
  // counted this allocation, so count it here.
  if (l.sample_countdown >= 0) --l.sample_countdown;
  if (l.sample_countdown < 0 && TakeSample(tc, c)) {
    if (void* p = SampleAllocate(c, size, align, site)) return p;
  }
  return AllocateSmall(c);
}

bool ProfilingEnabled() { return ProfilerLinked() && GetOption(Option::kProfileSites) != 0; }

double SampleWeight(size_t size, double interval) {
  const double p = OneMinusExpNeg(static_cast<double>(size) / interval);
  return p > 0.0 ? 1.0 / p : interval / static_cast<double>(size == 0 ? 1 : size);
}

int64_t SkipsBeforeSample(double u, size_t size, double interval) {
  const double skips = -Log(u) * interval / static_cast<double>(size == 0 ? 1 : size);
  return skips >= static_cast<double>(kNever) ? kNever : static_cast<int64_t>(skips);
}

uint64_t SampledBlocks() { return g_sampled_blocks.load(std::memory_order_relaxed); }

}  // namespace hakmem
