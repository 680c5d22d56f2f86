#include "bigcache/big_cache.h"

#include <stdlib.h>
#include <string.h>

#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace hakmem {
namespace bigcache {
namespace {

// The injected OS: a clock the test moves, and an unmap that records instead of unmapping
// (the "mappings" are malloc'd buffers, freed by the fixture).
uint64_t g_now = 1000;
std::vector<std::pair<void*, size_t>> g_unmapped;
uint64_t FakeNow() { return g_now; }
void FakeUnmap(void* p, size_t size) { g_unmapped.emplace_back(p, size); }

class BigCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    g_now = 1000;
    g_unmapped.clear();
  }
  void TearDown() override {
    for (char* m : made_) free(m);
  }
  char* NewMapping(size_t size) {
    char* m = static_cast<char*>(aligned_alloc(4096, size));
    made_.push_back(m);
    return m;
  }
  std::vector<char*> made_;
};

TEST(BigCacheBins, EveryRequestFitsItsBinAndBinsAreTight) {
  for (size_t bytes = 1; bytes <= (size_t{64} << 20); bytes = bytes * 9 / 8 + 4096) {
    const int b = BinFor(bytes);
    ASSERT_GE(b, 0) << bytes;
    ASSERT_GE(BinSize(b), bytes);
    if (b > 0) {
      ASSERT_LT(BinSize(b - 1), bytes) << bytes;  // the smallest bin that fits
    }
    ASSERT_EQ(BinOf(BinSize(b)), b);                         // a bin-sized mapping goes home
    ASSERT_LE(BinSize(b) - bytes, BinSize(b) / 8 + 4096);    // <= 1/8 waste past 4 KiB
  }
  EXPECT_EQ(BinFor((size_t{64} << 20) + 1), -1);  // too big to cache
}

TEST_F(BigCacheTest, ReusesAFreedMappingOfTheSameBin) {
  BigCache c(Env{&FakeNow, &FakeUnmap}, 64 << 20);
  const size_t size = BinSize(BinFor(2 << 20));
  char* m = NewMapping(size);
  ASSERT_TRUE(c.Put(m, size));
  size_t got = 0;
  EXPECT_EQ(c.Take(2 << 20, &got), m);
  EXPECT_EQ(got, size);
  EXPECT_EQ(c.Take(2 << 20, &got), nullptr);  // only one was there
  const Counters k = c.GetCounters();
  EXPECT_EQ(k.hits, 1u);
  EXPECT_EQ(k.front_hits, 1u);  // same thread: served from its front, no lock
  EXPECT_EQ(k.misses, 1u);
  EXPECT_EQ(k.faults_saved, (2u << 20) / 4096);
  EXPECT_EQ(k.bytes_held, 0u);
}

TEST_F(BigCacheTest, ABlockFreedByOneThreadServesAnother) {
  BigCache c(Env{&FakeNow, &FakeUnmap}, 64 << 20);
  const size_t size = BinSize(BinFor(1 << 20));
  char* m = NewMapping(size);
  std::thread t([&] {
    ASSERT_TRUE(c.Put(m, size));
    c.ThreadExit();  // its front goes to the shared back
  });
  t.join();
  size_t got;
  EXPECT_EQ(c.Take(1 << 20, &got), m);
}

TEST_F(BigCacheTest, EvictsByAgeOnlyAfterTheDecayPeriod) {
  BigCache c(Env{&FakeNow, &FakeUnmap}, 64 << 20);
  const size_t size = BinSize(BinFor(1 << 20));
  char* a = NewMapping(size);
  char* b = NewMapping(size);
  ASSERT_TRUE(c.Put(a, size));  // front
  g_now += 500;
  ASSERT_TRUE(c.Put(b, size));  // front slot taken: back
  EXPECT_EQ(c.Release(g_now, 1000), 0u);
  g_now += 600;  // a is 1100 old, b 600
  EXPECT_EQ(c.Release(g_now, 1000), size);
  ASSERT_EQ(g_unmapped.size(), 1u);
  EXPECT_EQ(g_unmapped[0].first, a);
  g_now += 1000;
  EXPECT_EQ(c.Release(g_now, 1000), size);
  EXPECT_EQ(c.GetCounters().bytes_held, 0u);
  EXPECT_EQ(c.GetCounters().evictions, 2u);
}

TEST_F(BigCacheTest, StaysWithinCapacityEvictingOldestInBatches) {
  const size_t size = BinSize(BinFor(1 << 20));
  const uint64_t cap = 16 * size;
  BigCache c(Env{&FakeNow, &FakeUnmap}, cap);
  std::vector<char*> order;  // put order: oldest first
  size_t unmap_passes = 0, last = 0;
  for (int i = 0; i < 64; ++i) {
    g_now += 1;
    // Mappings of several bins, so most go to the back.
    const size_t s = BinSize(BinFor((1 << 20) + static_cast<size_t>(i % 8) * (256 << 10)));
    char* m = NewMapping(s);
    order.push_back(m);
    ASSERT_TRUE(c.Put(m, s));
    ASSERT_LE(c.GetCounters().bytes_held, cap);
    if (g_unmapped.size() != last) {
      ++unmap_passes;
      last = g_unmapped.size();
    }
  }
  // Eviction goes down to 3/4 of the capacity: a pass evicts several mappings at once.
  ASSERT_GT(g_unmapped.size(), 20u);
  EXPECT_LT(unmap_passes * 2, g_unmapped.size());
  // Back mappings are evicted oldest first: the unmapped ones are all older than every
  // mapping still held in the back (the fronts hold the newest of their bins).
  std::set<char*> evicted;
  for (auto& u : g_unmapped) evicted.insert(static_cast<char*>(u.first));
  size_t newest_evicted = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    if (evicted.count(order[i])) newest_evicted = i;
  }
  size_t kept_older = 0;
  for (size_t i = 0; i < newest_evicted; ++i) kept_older += evicted.count(order[i]) == 0;
  EXPECT_LE(kept_older, 8u);  // at most the front slots (one per bin used)
  EXPECT_FALSE(c.Put(NewMapping(4096), cap + 4096));  // bigger than the whole cache
}

TEST_F(BigCacheTest, ConcurrentPutsAndTakesNeverHandOutAMappingTwice) {
  BigCache c(Env{&FakeNow, &FakeUnmap}, uint64_t{1} << 40);
  const size_t size = BinSize(BinFor(256 << 10));
  constexpr int kThreads = 4, kRounds = 20000;
  std::vector<char*> pool;
  for (int i = 0; i < kThreads * 2; ++i) pool.push_back(NewMapping(size));
  std::vector<std::thread> threads;
  std::atomic<int> errors{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      char* mine[2] = {pool[2 * t], pool[2 * t + 1]};
      for (int r = 0; r < kRounds; ++r) {
        for (char*& m : mine) {
          if (m != nullptr) {
            m[64] = static_cast<char>(t);  // we own it: write
            if (!c.Put(m, size)) errors++;
            m = nullptr;
          }
        }
        for (char*& m : mine) {
          size_t got;
          m = c.Take(256 << 10, &got);
          if (m != nullptr) {
            m[64] = static_cast<char>(t);
            if (m[64] != static_cast<char>(t)) errors++;
          }
        }
      }
      for (char* m : mine) {
        if (m != nullptr && !c.Put(m, size)) errors++;
      }
      c.ThreadExit();
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  // Every mapping is either back in the cache or was taken and not returned: none lost,
  // none duplicated. Drain and count distinct.
  std::set<char*> seen;
  size_t got;
  while (char* m = c.Take(256 << 10, &got)) EXPECT_TRUE(seen.insert(m).second);
  EXPECT_EQ(seen.size(), pool.size());
}

// The process's use, from many threads at once: threads put and take mappings of three
// bins and write over a taken mapping's first bytes (as the core writes its header over
// the cache's node), while another thread runs the decay pass (Release) on a moving
// clock and shrinks and grows the capacity (evictions). Under --config=tsan this is the
// cache's race detector; everywhere, no mapping may be handed out twice, handed out after
// it was unmapped, unmapped twice, or lost.
std::atomic<uint64_t> g_shared_now{1000};
std::mutex g_unmapped_mu;
std::map<void*, int>* g_unmap_counts = nullptr;
uint64_t SharedNow() { return g_shared_now.load(std::memory_order_relaxed); }
void CountingUnmap(void* p, size_t) {
  std::lock_guard<std::mutex> l(g_unmapped_mu);
  ++(*g_unmap_counts)[p];
}

TEST_F(BigCacheTest, ManyThreadsWithDecayAndEvictionsLoseAndDuplicateNothing) {
  std::map<void*, int> unmap_counts;
  g_unmap_counts = &unmap_counts;
  BigCache c(Env{&SharedNow, &CountingUnmap}, 2 << 20);
  const size_t kRequests[] = {20 << 10, 70 << 10, 150 << 10};
  constexpr int kThreads = 6, kPerThread = 6, kRounds = 3000;
  std::vector<std::vector<std::pair<char*, size_t>>> owned(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPerThread; ++i) {
      const size_t size = BinSize(BinFor(kRequests[i % 3]));
      owned[t].emplace_back(NewMapping(size), size);
    }
  }
  auto unmapped = [](void* p) {
    std::lock_guard<std::mutex> l(g_unmapped_mu);
    auto it = g_unmap_counts->find(p);
    return it == g_unmap_counts->end() ? 0 : it->second;
  };
  std::atomic<int> errors{0};
  std::atomic<bool> stop{false};
  std::thread decay([&] {
    for (uint64_t round = 0; !stop.load(); ++round) {
      g_shared_now.fetch_add(1000);
      c.Release(SharedNow(), 20000);
      c.set_capacity(round % 4 == 0 ? 256 << 10 : 2 << 20);
      if (c.GetCounters().bytes_held > (uint64_t{1} << 40)) errors++;  // wrapped below 0
      std::this_thread::yield();
    }
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::pair<char*, size_t>>& mine = owned[t];
      for (int r = 0; r < kRounds; ++r) {
        if (!mine.empty() && (r % 3 != 2 || mine.size() == kPerThread)) {
          auto [m, size] = mine.back();
          mine.pop_back();
          if (!c.Put(m, size)) {  // refused: the caller unmaps it
            CountingUnmap(m, size);
          }
        } else {
          const size_t want = kRequests[(r + t) % 3];
          size_t got = 0;
          if (char* m = c.Take(want, &got)) {
            if (got < want || unmapped(m) != 0) errors++;
            memset(m, t, 64);  // the core's header goes where the cache's node was
            m[got - 1] = static_cast<char>(t);
            mine.emplace_back(m, got);
          }
        }
      }
      for (auto [m, size] : mine) {
        if (!c.Put(m, size)) CountingUnmap(m, size);
      }
      mine.clear();
      c.ThreadExit();
    });
  }
  for (std::thread& th : threads) th.join();
  stop.store(true);
  decay.join();
  EXPECT_EQ(errors.load(), 0);
  // Everything still held goes now; then every mapping was unmapped exactly once.
  c.Release(UINT64_MAX, 0);
  EXPECT_EQ(c.GetCounters().bytes_held, 0u);
  EXPECT_EQ(unmap_counts.size(), made_.size());
  for (const auto& [p, n] : unmap_counts) EXPECT_EQ(n, 1) << p;
  const Counters k = c.GetCounters();
  EXPECT_GT(k.hits, 0u);
  EXPECT_GT(k.evictions, 0u);
  g_unmap_counts = nullptr;
}

}  // namespace
}  // namespace bigcache
}  // namespace hakmem
