// The route table alone (no allocator): decisions published and read from many threads.
// Under --config=tsan this is its race detector; everywhere, a reader must never see a
// decision that another site published (route_table.h: "lost, never misapplied").
#include "core/route_table.h"

#include <atomic>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace hakmem {
namespace {

// A key whose slot is `site`'s.
uintptr_t CollidingWith(uintptr_t site) {
  for (uintptr_t k = site + 1;; ++k) {
    if (RouteIndex(k) == RouteIndex(site)) return k;
  }
}

void ClearSlot(uintptr_t site) {
  for (int b = 0; b < kNumBands; ++b) PublishRouteDecision(site, b, Strategy::kNone);
}

TEST(RouteTable, PublishesReadsAndClears) {
  const uintptr_t a = 0x7000100, b = CollidingWith(a);
  EXPECT_TRUE(PublishRouteDecision(a, kBandLarge, Strategy::kMmap));
  EXPECT_EQ(RouteDecision(a, kBandLarge), Strategy::kMmap);
  EXPECT_EQ(RouteDecision(a, kBandHuge), Strategy::kNone);
  EXPECT_FALSE(PublishRouteDecision(a, kBandLarge, Strategy::kPool));  // not eligible
  EXPECT_FALSE(PublishRouteDecision(b, kBandLarge, Strategy::kBigCache));  // a holds it
  EXPECT_EQ(RouteDecision(b, kBandLarge), Strategy::kNone);
  ClearSlot(a);
  EXPECT_TRUE(PublishRouteDecision(b, kBandLarge, Strategy::kBigCache));  // free again
  EXPECT_EQ(RouteDecision(a, kBandLarge), Strategy::kNone);
  EXPECT_EQ(RouteDecision(b, kBandLarge), Strategy::kBigCache);
  ClearSlot(b);
}

// Two sites share a slot. Each has a thread that publishes its own strategy (once the
// slot is its own, on the lock-free path) and one that clears it, so the slot changes
// hands all the time, while readers check that each site only ever reads its own
// strategy or none.
TEST(RouteTable, ManyThreadsNeverReadAnotherSitesDecision) {
  const uintptr_t x = 0x7100200, y = CollidingWith(x);
  struct Side {
    uintptr_t site;
    Strategy mine;
  };
  const Side sides[2] = {{x, Strategy::kMmap}, {y, Strategy::kBigCache}};
  // Writers go on until the readers have read a while alongside them and seen decisions
  // (on a loaded machine, or instrumented, the readers may start late or catch the slot
  // empty for long), within a bound.
  constexpr int kIterations = 20000;
  constexpr uint64_t kMinReads = 200000;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> wrong{0}, reads{0}, mine_seen{0};
  auto more = [&reads, &mine_seen](int i) {
    return i < kIterations || ((reads.load(std::memory_order_relaxed) < kMinReads ||
                                mine_seen.load(std::memory_order_relaxed) < 100) &&
                               i < 100 * kIterations);
  };
  std::vector<std::thread> threads;
  for (const Side& s : sides) {
    threads.emplace_back([s, &more] {
      for (int i = 0; more(i); ++i) {
        PublishRouteDecision(s.site, kBandLarge, s.mine);
        PublishRouteDecision(s.site, kBandHuge, s.mine);
      }
    });
    threads.emplace_back([s, &more] {
      for (int i = 0; more(i); ++i) {
        PublishRouteDecision(s.site, kBandLarge, Strategy::kNone);
        PublishRouteDecision(s.site, kBandHuge, Strategy::kNone);
        std::this_thread::yield();  // leave the decisions up a while
      }
    });
  }
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        for (const Side& s : sides) {
          for (int band : {kBandLarge, kBandHuge}) {
            const Strategy d = RouteDecision(s.site, band);
            if (d != Strategy::kNone && d != s.mine) wrong.fetch_add(1);
            if (d == s.mine) mine_seen.fetch_add(1);
            reads.fetch_add(1, std::memory_order_relaxed);
          }
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  stop.store(true);
  for (std::thread& t : readers) t.join();
  EXPECT_EQ(wrong.load(), 0u) << "of " << reads.load() << " reads";
  EXPECT_GT(mine_seen.load(), 0u);
  // Quiet again: whichever site holds the slot holds only its own decisions.
  for (const Side& s : sides) {
    for (int band = 0; band < kNumBands; ++band) {
      const Strategy d = RouteDecision(s.site, band);
      EXPECT_TRUE(d == Strategy::kNone || d == s.mine);
    }
  }
  ClearSlot(x);
  ClearSlot(y);
}

// Many sites in their own slots, each published and republished by several threads: at
// the end every site reads the one decision all its publishers agreed on last.
TEST(RouteTable, ManyThreadsManySitesEachKeepsItsLastDecision) {
  constexpr int kThreads = 8, kSites = 512;
  std::vector<uintptr_t> sites;
  std::vector<bool> slot_used(1 << kRouteTableBits);
  for (uintptr_t k = 0x7200000; static_cast<int>(sites.size()) < kSites; k += 64) {
    if (slot_used[RouteIndex(k)] || RouteDecision(k, kBandMiddle) != Strategy::kNone) continue;
    slot_used[RouteIndex(k)] = true;
    sites.push_back(k);
  }
  std::vector<std::thread> threads;
  for (int th = 0; th < kThreads; ++th) {
    threads.emplace_back([&sites, th] {
      for (int round = 0; round < 20; ++round) {
        for (size_t i = th; i < sites.size() + th; ++i) {
          const uintptr_t site = sites[i % sites.size()];
          // Every thread ends on the same strategy per site.
          const Strategy s = round < 19 ? static_cast<Strategy>(1 + (round + th) % 3)
                                        : static_cast<Strategy>(1 + site / 64 % 3);
          EXPECT_TRUE(PublishRouteDecision(site, kBandMiddle, s));
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (uintptr_t site : sites) {
    EXPECT_EQ(RouteDecision(site, kBandMiddle), static_cast<Strategy>(1 + site / 64 % 3));
    ClearSlot(site);
  }
}

}  // namespace
}  // namespace hakmem
