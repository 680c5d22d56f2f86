#include "bigcache/big_cache.h"

#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace hakmem {
namespace bigcache {
namespace {

constexpr size_t kMiB = size_t{1} << 20;

// The injected OS. The heap never touches the memory it manages, so regions are bare
// address ranges (from far above any real mapping): the test sees every call the heap
// makes and the clock is the test's.
struct FakeOs {
  std::mutex mu;
  uint64_t now = 1000;
  uintptr_t next = uintptr_t{1} << 44;
  int maps = 0, huge_maps = 0, unmaps = 0, refuse_maps_over = -1;  // -1: refuse none
  uint64_t headroom = 0;
  std::vector<std::pair<uintptr_t, size_t>> released;
  std::vector<uintptr_t> retired;
  // Runs once, in the next Map, before it maps: what another thread does while this one
  // maps a region outside the heap's lock.
  std::function<void()> during_next_map;
};
FakeOs* g_os = nullptr;

uint64_t Now() { return g_os->now; }
char* Map(size_t size, bool huge) {
  if (g_os->during_next_map) {
    std::function<void()> f = std::move(g_os->during_next_map);
    g_os->during_next_map = nullptr;
    f();
  }
  std::lock_guard<std::mutex> l(g_os->mu);
  if (g_os->refuse_maps_over >= 0 && size > static_cast<size_t>(g_os->refuse_maps_over)) {
    return nullptr;
  }
  ++g_os->maps;
  if (huge) ++g_os->huge_maps;
  const uintptr_t p = (g_os->next + (2 * kMiB - 1)) & ~(2 * kMiB - 1);
  g_os->next = p + size + 64 * kMiB;  // a gap: regions never touch
  return reinterpret_cast<char*>(p);
}
void Unmap(char*, size_t) {
  std::lock_guard<std::mutex> l(g_os->mu);
  ++g_os->unmaps;
}
void Release(char* p, size_t size) {
  std::lock_guard<std::mutex> l(g_os->mu);
  g_os->released.emplace_back(reinterpret_cast<uintptr_t>(p), size);
}
void Retire(char* p, size_t) {
  std::lock_guard<std::mutex> l(g_os->mu);  // called outside the heap's lock too
  g_os->retired.push_back(reinterpret_cast<uintptr_t>(p));
}
uint64_t Headroom() { return g_os->headroom; }

constexpr Env kEnv{&Now, &Map, &Unmap, &Release, &Retire, &Headroom};

class BigCacheTest : public ::testing::Test {
 protected:
  void SetUp() override { g_os = &os_; }
  void TearDown() override { g_os = nullptr; }

  // Takes and checks the result; returns the extent's start.
  uintptr_t Take(BigCache& c, size_t bytes, bool huge, bool want_fresh, size_t* size = nullptr) {
    size_t got = 0;
    bool fresh = !want_fresh;
    char* p = c.Take(bytes, huge, &got, &fresh);
    EXPECT_NE(p, nullptr) << bytes;
    EXPECT_GE(got, bytes);
    EXPECT_EQ(fresh, want_fresh) << bytes;
    if (size != nullptr) *size = got;
    return reinterpret_cast<uintptr_t>(p);
  }
  static char* P(uintptr_t p) { return reinterpret_cast<char*>(p); }

  FakeOs os_;
};

TEST(BigCacheBins, EveryRequestFitsItsBinAndBinsAreTight) {
  for (size_t bytes = 1; bytes <= (size_t{64} << 20); bytes = bytes * 9 / 8 + 4096) {
    const int b = BinFor(bytes);
    ASSERT_GE(b, 0) << bytes;
    ASSERT_GE(BinSize(b), bytes);
    if (b > 0) {
      ASSERT_LT(BinSize(b - 1), bytes) << bytes;  // the smallest bin that fits
    }
    ASSERT_EQ(BinOf(BinSize(b)), b);
    ASSERT_LE(BinSize(b) - bytes, BinSize(b) / 8 + 4096);
  }
  EXPECT_EQ(BinFor((size_t{64} << 20) + 1), -1);
  EXPECT_EQ(BinOf(size_t{1} << 30), kBins - 1);  // past 64 MiB: the last bin
}

TEST_F(BigCacheTest, AFreedBlockServesTheNextRequestWithoutTheOs) {
  BigCache c(kEnv, 64 * kMiB);
  size_t size = 0;
  const uintptr_t a = Take(c, 300 * 1024, false, true, &size);
  EXPECT_EQ(size, 300u * 1024);  // whole pages, no size classes
  EXPECT_EQ(os_.maps, 1);
  EXPECT_TRUE(c.Put(P(a), size));
  EXPECT_EQ(c.GetCounters().bytes_held, size);
  EXPECT_EQ(Take(c, 300 * 1024, false, false), a);
  const Counters k = c.GetCounters();
  EXPECT_EQ(k.hits, 1u);
  EXPECT_EQ(k.misses, 1u);
  EXPECT_EQ(k.faults_saved, 75u);
  EXPECT_EQ(k.bytes_held, 0u);
  EXPECT_EQ(os_.maps, 1);
  EXPECT_TRUE(os_.released.empty());
}

TEST_F(BigCacheTest, ALargerFreeExtentServesSmallerRequestsAndKeepsTheRest) {
  BigCache c(kEnv, 64 * kMiB);
  size_t size = 0;
  const uintptr_t a = Take(c, 20 * kMiB, false, true, &size);
  ASSERT_TRUE(c.Put(P(a), size));
  // 12 MiB from the head of the freed 20; the 8 MiB tail stays resident and serves next.
  EXPECT_EQ(Take(c, 12 * kMiB, false, false), a);
  EXPECT_EQ(c.GetCounters().bytes_held, 8 * kMiB);
  EXPECT_EQ(Take(c, 8 * kMiB, false, false), a + 12 * kMiB);
  EXPECT_EQ(os_.maps, 1);
  EXPECT_TRUE(os_.released.empty());
}

TEST_F(BigCacheTest, ReleasedNeighboursCoalesceResidentOnesStayOneBlockEach) {
  BigCache c(kEnv, 64 * kMiB);
  size_t s = 0;
  const uintptr_t a = Take(c, 4 * kMiB, false, true, &s);
  const uintptr_t b = Take(c, 4 * kMiB, false, true);
  const uintptr_t d = Take(c, 4 * kMiB, false, true);
  const uintptr_t e = Take(c, 4 * kMiB, false, true);
  ASSERT_EQ(b, a + 4 * kMiB);  // carved one after another from the region
  ASSERT_EQ(d, b + 4 * kMiB);
  ASSERT_TRUE(c.Put(P(a), s));
  ASSERT_TRUE(c.Put(P(d), s));
  ASSERT_TRUE(c.Put(P(b), s));
  EXPECT_EQ(c.GetCounters().merges, 0u);  // resident: each its own block
  EXPECT_EQ(Take(c, 4 * kMiB, false, false), b);  // the newest freed of the best fit
  ASSERT_TRUE(c.Put(P(b), s));
  // Released, they join: one run of 12 MiB serves a request none alone could.
  EXPECT_EQ(c.Release(os_.now + 1, 1), 12 * kMiB);
  EXPECT_EQ(c.GetCounters().merges, 2u);
  EXPECT_EQ(Take(c, 12 * kMiB, false, true), a);
  EXPECT_EQ(os_.maps, 1);
  EXPECT_TRUE(c.Put(P(e), s));
}

TEST_F(BigCacheTest, TheBestFittingFreeExtentIsTaken) {
  BigCache c(kEnv, 256 * kMiB);
  std::vector<uintptr_t> blocks;
  for (size_t mib : {9, 1, 5, 1, 6, 1}) blocks.push_back(Take(c, mib * kMiB, false, true));
  // Free 9, 5 and 6 (the 1 MiB blocks between them stay, so nothing merges).
  ASSERT_TRUE(c.Put(P(blocks[0]), 9 * kMiB));
  ASSERT_TRUE(c.Put(P(blocks[2]), 5 * kMiB));
  ASSERT_TRUE(c.Put(P(blocks[4]), 6 * kMiB));
  EXPECT_EQ(Take(c, 5 * kMiB + 4096, false, false), blocks[4]);  // 6 fits best, not 9
  EXPECT_EQ(Take(c, 5 * kMiB, false, false), blocks[2]);
}

TEST_F(BigCacheTest, HugeRegionsAreApartAlignedAndInWholeHugePages) {
  BigCache c(kEnv, 64 * kMiB);
  size_t size = 0;
  const uintptr_t h = Take(c, 3 * kMiB, true, true, &size);
  EXPECT_EQ(size, 4 * kMiB);  // whole huge pages: a release never cuts one
  EXPECT_EQ(h % (2 * kMiB), 0u);
  const uintptr_t p = Take(c, 3 * kMiB, false, true, &size);
  EXPECT_EQ(size, 3 * kMiB);
  EXPECT_EQ(os_.maps, 2);
  EXPECT_EQ(os_.huge_maps, 1);
  ASSERT_TRUE(c.Put(P(p), size));
  // A freed plain extent does not serve a huge request, nor the other way round.
  const uintptr_t h2 = Take(c, 3 * kMiB, true, true);
  EXPECT_EQ(h2, h + 4 * kMiB);
  EXPECT_EQ(h2 % (2 * kMiB), 0u);
}

TEST_F(BigCacheTest, KeepsAtMostTheCapacityPlusTheLiveHeapsHeadroomResident) {
  BigCache c(kEnv, 4 * kMiB);
  std::vector<uintptr_t> blocks;
  // Used blocks between them: freed blocks stay apart.
  for (int i = 0; i < 6; ++i) blocks.push_back(Take(c, 4 * kMiB, false, true));
  os_.headroom = 4 * kMiB;  // the program's live large bytes are 4 MiB below their peak
  for (int i = 0; i < 6; i += 2) {
    os_.now += 1000;
    c.Put(P(blocks[i]), 4 * kMiB);
  }
  // Bound 4 + 4 MiB: the least recently freed (blocks[0]) was released for the third.
  EXPECT_EQ(c.GetCounters().bytes_held, 8 * kMiB);
  ASSERT_EQ(os_.released.size(), 1u);
  EXPECT_EQ(os_.released[0], std::make_pair(blocks[0], 4 * kMiB));
  EXPECT_EQ(c.GetCounters().evictions, 1u);
  // Released memory is still the heap's: it serves again, its pages fresh, with no map.
  EXPECT_EQ(Take(c, 4 * kMiB, false, false), blocks[4]);
  EXPECT_EQ(Take(c, 4 * kMiB, false, false), blocks[2]);
  EXPECT_EQ(Take(c, 4 * kMiB, false, true), blocks[0]);
  EXPECT_EQ(os_.maps, 1);
  // With no headroom, only the capacity: the older of two freed blocks is released...
  os_.headroom = 0;
  EXPECT_TRUE(c.Put(P(blocks[4]), 4 * kMiB));
  os_.now += 1000;
  EXPECT_TRUE(c.Put(P(blocks[2]), 4 * kMiB));
  EXPECT_EQ(os_.released.back(), std::make_pair(blocks[4], 4 * kMiB));
  // ... and a block larger than the bound as it is freed.
  size_t big = 0;
  const uintptr_t b = Take(c, 6 * kMiB, false, true, &big);
  EXPECT_FALSE(c.Put(P(b), big));
  EXPECT_EQ(c.GetCounters().rejects, 1u);
  EXPECT_EQ(c.GetCounters().bytes_held, 4 * kMiB);
}

TEST_F(BigCacheTest, CapacityZeroTurnsReuseOffHeadroomOrNot) {
  BigCache c(kEnv, 0);
  os_.headroom = 64 * kMiB;
  size_t size = 0;
  const uintptr_t a = Take(c, 2 * kMiB, false, true, &size);
  EXPECT_FALSE(c.Put(P(a), size));
  ASSERT_EQ(os_.released.size(), 1u);
  EXPECT_EQ(c.GetCounters().bytes_held, 0u);
  // Every page of its region free and released: the region went back too.
  EXPECT_EQ(os_.unmaps, 1);
  EXPECT_EQ(c.GetCounters().regions, 0u);
}

TEST_F(BigCacheTest, DecayReleasesWhatWasFreedADecayPeriodAgoAndUnmapsEmptyRegions) {
  BigCache c(kEnv, 64 * kMiB);
  size_t size = 0;
  const uintptr_t a = Take(c, 6 * kMiB, false, true, &size);
  const uintptr_t b = Take(c, 6 * kMiB, false, true);
  os_.now = 10'000;
  ASSERT_TRUE(c.Put(P(a), size));
  os_.now = 20'000;
  EXPECT_EQ(c.Release(10'000 + 4'999, 5'000), 0u);  // not idle long enough
  EXPECT_EQ(c.Release(10'000 + 5'000, 5'000), 6 * kMiB);
  EXPECT_EQ(c.GetCounters().bytes_held, 0u);
  EXPECT_EQ(os_.unmaps, 0);  // b is still in use there
  ASSERT_TRUE(c.Put(P(b), size));
  EXPECT_EQ(c.Release(20'000 + 5'000, 5'000), 6 * kMiB);
  // Every page of the region free and released: the region goes back.
  EXPECT_EQ(os_.unmaps, 1);
  EXPECT_EQ(c.GetCounters().regions, 0u);
  EXPECT_EQ(c.GetCounters().region_bytes, 0u);
  Take(c, 6 * kMiB, false, true);
  EXPECT_EQ(os_.maps, 2);
}

TEST_F(BigCacheTest, AFreedBlocksRecordRetiresWhenItsMemoryStopsBeingIdle) {
  BigCache c(kEnv, 64 * kMiB);
  size_t s = 0;
  const uintptr_t a = Take(c, 4 * kMiB, false, true, &s);
  const uintptr_t b = Take(c, 4 * kMiB, false, true);
  const uintptr_t d = Take(c, 4 * kMiB, false, true);
  ASSERT_TRUE(c.Put(P(a), s));
  ASSERT_TRUE(c.Put(P(b), s));
  EXPECT_TRUE(os_.retired.empty());
  // Its head handed out: a's record retires; the 1 MiB tail has none.
  EXPECT_EQ(Take(c, 3 * kMiB, false, false), b);
  EXPECT_EQ(os_.retired, std::vector<uintptr_t>{b});
  // A release retires what is still open before its pages go; the tail retires nothing.
  EXPECT_EQ(c.Release(os_.now + 1, 1), 5 * kMiB);
  EXPECT_EQ(os_.retired, (std::vector<uintptr_t>{b, a}));
  // Growing into a resident free block's memory retires its record too.
  size_t resized = 0;
  bool fresh = false;
  ASSERT_TRUE(c.Resize(P(b), 3 * kMiB, 4 * kMiB, &resized, &fresh));  // the released tail
  EXPECT_TRUE(fresh);
  ASSERT_TRUE(c.Put(P(d), s));
  ASSERT_TRUE(c.Resize(P(b), 4 * kMiB, 8 * kMiB, &resized, &fresh));  // d's freed memory
  EXPECT_FALSE(fresh);
  EXPECT_EQ(os_.retired, (std::vector<uintptr_t>{b, a, d}));
}

TEST_F(BigCacheTest, ResizeGrowsIntoTheFreeExtentAfterAndShrinksInPlace) {
  BigCache c(kEnv, 64 * kMiB);
  size_t s = 0;
  const uintptr_t a = Take(c, 2 * kMiB, false, true, &s);
  size_t resized = 0;
  bool fresh = false;
  // The rest of the region (never touched) follows a: growth takes from it, fresh.
  ASSERT_TRUE(c.Resize(P(a), s, 5 * kMiB, &resized, &fresh));
  EXPECT_EQ(resized, 5 * kMiB);
  EXPECT_TRUE(fresh);
  const uintptr_t b = Take(c, 1 * kMiB, false, true);
  EXPECT_EQ(b, a + 5 * kMiB);
  // b now follows a: no room to grow.
  EXPECT_FALSE(c.Resize(P(a), 5 * kMiB, 6 * kMiB, &resized, &fresh));
  // Shrinking frees the tail, resident; it serves the next request.
  ASSERT_TRUE(c.Resize(P(a), 5 * kMiB, 1 * kMiB, &resized, &fresh));
  EXPECT_EQ(resized, 1 * kMiB);
  EXPECT_EQ(c.GetCounters().bytes_held, 4 * kMiB);
  EXPECT_EQ(Take(c, 3 * kMiB, false, false), a + 1 * kMiB);
  // Growing into a resident free extent gains no fresh pages.
  ASSERT_TRUE(c.Resize(P(a + 1 * kMiB), 3 * kMiB, 4 * kMiB, &resized, &fresh));
  EXPECT_FALSE(fresh);
}

TEST_F(BigCacheTest, BadPutsAndResizesAreIgnored) {
  BigCache c(kEnv, 64 * kMiB);
  size_t s = 0;
  const uintptr_t a = Take(c, 2 * kMiB, false, true, &s);
  size_t resized = 0;
  bool fresh = false;
  EXPECT_FALSE(c.Put(P(a + 4096), s));      // not a start
  EXPECT_FALSE(c.Put(P(a), s + 4096));      // not its size
  EXPECT_FALSE(c.Put(P(uintptr_t{1} << 20), s));  // not the heap's
  EXPECT_FALSE(c.Resize(P(a + 4096), s, 4096, &resized, &fresh));
  EXPECT_EQ(c.GetCounters().puts, 0u);
  EXPECT_TRUE(c.Put(P(a), s));
  EXPECT_FALSE(c.Put(P(a), s));  // a second free of the same block
  EXPECT_EQ(c.GetCounters().puts, 1u);
}

TEST_F(BigCacheTest, WhenTheOsRefusesARegionTheRequestAloneIsMappedOrItFails) {
  BigCache c(kEnv, 64 * kMiB);
  os_.refuse_maps_over = 16 * kMiB;  // as under RLIMIT_AS: no 1 GiB region
  size_t size = 0;
  const uintptr_t a = Take(c, 10 * kMiB, false, true, &size);
  EXPECT_EQ(size, 10 * kMiB);
  EXPECT_EQ(c.GetCounters().region_bytes, 10 * kMiB);
  os_.refuse_maps_over = 0;
  bool fresh = false;
  EXPECT_EQ(c.Take(kMiB, false, &size, &fresh), nullptr);
  EXPECT_EQ(c.Take(kMaxRequest + 1, false, &size, &fresh), nullptr);
  EXPECT_TRUE(c.Put(P(a), 10 * kMiB));
}

TEST_F(BigCacheTest, ARegionMappedForARequestThatAnotherServedGoesBack) {
  // Two threads miss at once and each maps a region outside the lock. The first back
  // takes from its own region; the second then best-fits into what is left of the first
  // one's, and its own region is never touched. Kept, that region would sit mapped and
  // whole for good (nothing is ever freed into it, so nothing releases it): it goes back
  // at once.
  BigCache c(kEnv, 64 * kMiB);
  uintptr_t other = 0;
  os_.during_next_map = [&] { other = Take(c, 4 * kMiB, false, true); };
  const uintptr_t mine = Take(c, 4 * kMiB, false, true);
  EXPECT_EQ(mine, other + 4 * kMiB);  // the rest of the other thread's region
  EXPECT_EQ(os_.maps, 2);
  EXPECT_EQ(os_.unmaps, 1);
  EXPECT_EQ(c.GetCounters().regions, 1u);
  EXPECT_EQ(c.GetCounters().region_bytes, kRegionBytes);
  c.Put(P(mine), 4 * kMiB);
  c.Put(P(other), 4 * kMiB);
  c.Release(os_.now + 1, 1);
  EXPECT_EQ(c.GetCounters().regions, 0u);
  EXPECT_EQ(os_.unmaps, 2);
}

TEST_F(BigCacheTest, ConcurrentTakesAndPutsNeverHandOutOverlappingMemory) {
  BigCache c(kEnv, 32 * kMiB);
  std::mutex mu;
  std::map<uintptr_t, size_t> live;  // start -> size, every extent in use
  std::atomic<bool> overlap{false};
  auto worker = [&](int seed) {
    std::mt19937 rng(seed);
    std::vector<std::pair<uintptr_t, size_t>> mine;
    for (int i = 0; i < 4000; ++i) {
      if (mine.size() < 8 && (mine.empty() || rng() % 2 == 0)) {
        const size_t bytes = (1 + rng() % 1024) * 4096 + rng() % 4096;
        const bool huge = rng() % 4 == 0;
        size_t size = 0;
        bool fresh = false;
        char* p = c.Take(bytes, huge, &size, &fresh);
        if (p == nullptr) continue;
        const uintptr_t s = reinterpret_cast<uintptr_t>(p);
        std::lock_guard<std::mutex> l(mu);
        auto next = live.lower_bound(s);
        if (next != live.end() && next->first < s + size) overlap = true;
        if (next != live.begin() && std::prev(next)->first + std::prev(next)->second > s) {
          overlap = true;
        }
        live[s] = size;
        mine.emplace_back(s, size);
      } else {
        const size_t k = rng() % mine.size();
        const auto [s, size] = mine[k];
        mine.erase(mine.begin() + k);
        {
          std::lock_guard<std::mutex> l(mu);
          live.erase(s);
        }
        c.Put(reinterpret_cast<char*>(s), size);
      }
      if (i % 500 == 0) c.Release(os_.now, 1);
    }
    for (const auto& [s, size] : mine) {
      {
        std::lock_guard<std::mutex> l(mu);
        live.erase(s);
      }
      c.Put(reinterpret_cast<char*>(s), size);
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back(worker, t + 1);
  for (std::thread& t : threads) t.join();
  EXPECT_FALSE(overlap);
  const Counters k = c.GetCounters();
  EXPECT_LE(k.bytes_held, 32 * kMiB);
  EXPECT_EQ(k.puts, k.hits + k.misses);  // every block taken came back
  // All free: releasing everything returns every region.
  c.Release(os_.now + 1, 1);
  EXPECT_EQ(c.GetCounters().regions, 0u);
  EXPECT_EQ(os_.unmaps, os_.maps);
}

}  // namespace
}  // namespace bigcache
}  // namespace hakmem
