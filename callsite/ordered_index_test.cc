#include "callsite/ordered_index.h"

#include <atomic>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace hakmem {
namespace callsite {
namespace {

// A table of 64 slots and at most 16 records keyed by a number, its slots 16-bit as the
// profiler's are.
struct Table {
  std::atomic<uint16_t> index[64] = {};
  std::atomic<uint32_t> used{0};
  std::atomic<uint64_t> keys[16] = {};
  Found Find(uint64_t key, uint64_t hash) {
    return FindOrInsertOrdered(
        index, 63, &used, 16, hash, 8,
        [&](uint32_t id) { keys[id - 1].store(key); },
        [&](uint32_t id) { return keys[id - 1].load() == key ? Match::kYes : Match::kNo; });
  }
};

TEST(OrderedIndex, RecordsComeInOrderWhereverTheKeysHash) {
  Table t;
  const Found a = t.Find(100, 50), b = t.Find(200, 3), c = t.Find(300, 50);  // c collides with a
  EXPECT_EQ(a.id, 1u);
  EXPECT_EQ(b.id, 2u);
  EXPECT_EQ(c.id, 3u);
  EXPECT_TRUE(a.inserted && b.inserted && c.inserted);
  const Found again = t.Find(300, 50);
  EXPECT_EQ(again.id, 3u);
  EXPECT_FALSE(again.inserted);
  EXPECT_EQ(t.index[50].load(), 1u);
  EXPECT_EQ(t.index[51].load(), 3u);  // the next slot of the probe
}

TEST(OrderedIndex, FullRecordsOrALongProbeRunFindNothing) {
  Table t;
  for (uint64_t k = 1; k <= 16; ++k) ASSERT_EQ(t.Find(k, k * 4).id, k);
  EXPECT_EQ(t.Find(99, 7).id, 0u);  // a free slot, but no record left
  Table u;
  for (uint64_t k = 1; k <= 8; ++k) ASSERT_NE(u.Find(k, 0).id, 0u);  // slots 0..7
  EXPECT_EQ(u.Find(9, 0).id, 0u);  // eight probes, all taken by other keys
}

TEST(OrderedIndex, AGiveUpEndsTheLookup) {
  Table t;
  ASSERT_EQ(t.Find(1, 5).id, 1u);
  int looks = 0;
  const Found f = FindOrInsertOrdered(
      t.index, 63, &t.used, 16, 5, 8, [](uint32_t) { ADD_FAILURE() << "claimed"; },
      [&](uint32_t) {
        ++looks;
        return Match::kGiveUp;
      });
  EXPECT_EQ(f.id, 0u);
  EXPECT_EQ(looks, 1);
}

// Threads inserting the same keys at once agree on one id per key; records lost to races
// are never indexed.
TEST(OrderedIndex, ConcurrentInsertsOfTheSameKeysAgree) {
  for (int round = 0; round < 50; ++round) {
    Table t;
    constexpr int kThreads = 4, kKeys = 4;
    uint32_t ids[kThreads][kKeys];
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([&, i] {
        while (!go.load()) {
        }
        for (int k = 0; k < kKeys; ++k) ids[i][k] = t.Find(1000 + k, 17 * k).id;
      });
    }
    go = true;
    for (auto& th : threads) th.join();
    for (int k = 0; k < kKeys; ++k) {
      ASSERT_NE(ids[0][k], 0u);
      for (int i = 1; i < kThreads; ++i) EXPECT_EQ(ids[i][k], ids[0][k]) << k;
      EXPECT_EQ(t.keys[ids[0][k] - 1].load(), 1000u + k);
    }
  }
}

}  // namespace
}  // namespace callsite
}  // namespace hakmem
