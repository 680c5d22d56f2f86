#include "callsite/site_table.h"

#include <elf.h>
#include <string.h>

#include <atomic>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "callsite/context.h"
#include "callsite/module_map.h"
#include "callsite/profiler.h"

namespace hakmem {
namespace callsite {
namespace {

// Keys that are not code addresses resolve to no module; that is fine for the table.
constexpr uintptr_t kBaseKey = 0x100000;

TEST(SiteTable, SameKeySameSiteAndCountsAccumulate) {
  SiteTable& t = Sites();
  const uint32_t a = t.FindOrInsert(kBaseKey + 1);
  const uint32_t b = t.FindOrInsert(kBaseKey + 2);
  ASSERT_NE(a, 0u);
  ASSERT_NE(a, b);
  EXPECT_EQ(t.FindOrInsert(kBaseKey + 1), a);
  t.RecordAlloc(a, 100, 1.0);
  t.RecordAlloc(a, 300, 2.5);
  t.RecordFree(a, 100, 1.0, 1000, /*cross_thread=*/true);
  SiteSnapshot s;
  Snapshot(a, t.Get(a), &s);
  EXPECT_DOUBLE_EQ(s.allocs, 3.5);
  EXPECT_DOUBLE_EQ(s.frees, 1.0);
  EXPECT_DOUBLE_EQ(s.cross_thread_frees, 1.0);
  EXPECT_EQ(s.bytes, 100u + 750u);
  EXPECT_EQ(s.live_bytes, 750);
  EXPECT_EQ(s.peak_live_bytes, 850);
  EXPECT_TRUE(s.estimated);  // one record had a weight other than 1
  EXPECT_EQ(s.records, 2u);
  EXPECT_DOUBLE_EQ(s.lifetime_histogram[LifetimeBucket(1000)], 1.0);
}

// A site's histograms hold only the chunks its buckets fall in: one size and two nearby
// lifetimes cost a chunk each, and every other bucket reads as zero.
TEST(SiteTable, HistogramsAllocateOnlyTheChunksTheirBucketsUse) {
  SiteTable& t = Sites();
  const uint32_t id = t.FindOrInsert(kBaseKey + 0x7000);
  ASSERT_NE(id, 0u);
  Site* site = t.Get(id);
  EXPECT_EQ(site->size_fx.chunks_used(), 0);
  EXPECT_EQ(site->lifetime_fx.chunks_used(), 0);
  t.RecordAlloc(id, 48, 1.0);
  t.RecordAlloc(id, 48, 3.0);
  t.RecordFree(id, 48, 1.0, 2000, false);
  t.RecordFree(id, 48, 1.0, 5000, false);
  EXPECT_EQ(site->size_fx.chunks_used(), 1);
  EXPECT_EQ(site->lifetime_fx.chunks_used(), 1);  // buckets 10 and 12 share a chunk
  SiteSnapshot s;
  Snapshot(id, site, &s);
  for (int b = 0; b < kSizeBuckets; ++b) {
    EXPECT_DOUBLE_EQ(s.size_histogram[b], b == SizeBucket(48) ? 4.0 : 0.0) << b;
  }
  for (int b = 0; b < kLifetimeBuckets; ++b) {
    const double want = b == LifetimeBucket(2000) || b == LifetimeBucket(5000) ? 1.0 : 0.0;
    EXPECT_DOUBLE_EQ(s.lifetime_histogram[b], want) << b;
  }
  // A size far from the first (a large block) opens a second chunk.
  t.RecordAlloc(id, size_t{1} << 46, 1.0);
  EXPECT_EQ(site->size_fx.chunks_used(), 2);
  EXPECT_EQ(site->size_fx.Get(SizeBucket(size_t{1} << 46)), kFixedOne);
  // The record itself no longer carries the arrays.
  EXPECT_LT(sizeof(Site), 256u);
}

// Threads that race to open the same chunk all land their adds in the one that wins.
TEST(LazyHistogram, ConcurrentFirstAddsToAChunkAreAllCounted) {
  for (int round = 0; round < 20; ++round) {
    static LazyHistogram<kLifetimeBuckets> h[20];  // zeroed, as a site record is
    constexpr int kThreads = 8, kAdds = 1000;
    std::vector<std::thread> threads;
    std::atomic<bool> go{false};
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([&, i] {
        while (!go.load()) {
        }
        for (int k = 0; k < kAdds; ++k) h[round].Add((i + k) % kLifetimeBuckets, 1);
      });
    }
    go = true;
    for (auto& th : threads) th.join();
    uint64_t total = 0;
    for (int b = 0; b < kLifetimeBuckets; ++b) total += h[round].Get(b);
    EXPECT_EQ(total, uint64_t{kThreads} * kAdds);
    EXPECT_EQ(h[round].chunks_used(), 3);
  }
}

TEST(SiteTable, NewSitesTakeTheNextRecordsInOrder) {
  // Records are handed out in order, whatever slots the keys hash to: a program with n
  // sites touches n records, not a page per site.
  SiteTable& t = Sites();
  const uint32_t first = t.FindOrInsert(kBaseKey + 0x5000);
  ASSERT_NE(first, 0u);
  for (uint32_t i = 1; i < 50; ++i) {
    EXPECT_EQ(t.FindOrInsert(kBaseKey + 0x5000 + i * 0x1234567), first + i);
  }
  std::vector<uint32_t> seen;
  t.ForEach([&](uint32_t id, const Site* s) {
    if (id >= first && id < first + 50) {
      seen.push_back(id);
      EXPECT_EQ(s->key.load(), id == first ? kBaseKey + 0x5000
                                           : kBaseKey + 0x5000 + (id - first) * 0x1234567);
    }
  });
  EXPECT_EQ(seen.size(), 50u);
}

TEST(SiteTable, ConcurrentInsertsOfOneKeyAgreeAndCountEveryRecord) {
  SiteTable& t = Sites();
  constexpr int kThreads = 8, kPer = 10000;
  std::vector<uint32_t> ids(kThreads);
  std::vector<std::thread> pool;
  for (int i = 0; i < kThreads; ++i) {
    pool.emplace_back([&t, &ids, i] {
      for (int j = 0; j < kPer; ++j) {
        const uint32_t id = t.FindOrInsert(kBaseKey + 77);
        t.RecordAlloc(id, 64, 1.0);
        ids[i] = id;
      }
    });
  }
  for (auto& th : pool) th.join();
  for (uint32_t id : ids) EXPECT_EQ(id, ids[0]);
  SiteSnapshot s;
  Snapshot(ids[0], t.Get(ids[0]), &s);
  EXPECT_DOUBLE_EQ(s.allocs, kThreads * kPer);
  EXPECT_FALSE(s.estimated);
}

// The profiler's use from many threads: new sites inserted while others are recorded
// into and a reader (the telemetry writer, a site report) takes snapshots of every site.
// Under --config=tsan this is the table's race detector; everywhere, the counts add up.
TEST(SiteTable, ManyThreadsInsertRecordAndSnapshot) {
  SiteTable& t = Sites();
  constexpr int kThreads = 8, kKeysPerThread = 40, kRounds = 4;
  constexpr uintptr_t kShared = kNamedSiteBit | 0x5eed;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> snapshots{0};
  std::thread reader([&] {
    do {  // at least one pass, however late this thread starts
      ForEachSite([&](const SiteSnapshot& s) {
        EXPECT_GE(s.peak_live_bytes, 0);
        if (s.key == kShared) {
          EXPECT_EQ(s.module, nullptr);
        }
        snapshots.fetch_add(1, std::memory_order_relaxed);
      });
      std::this_thread::yield();
    } while (!stop.load());
  });
  std::vector<std::thread> writers;
  for (int th = 0; th < kThreads; ++th) {
    writers.emplace_back([&t, th] {
      for (int r = 0; r < kRounds; ++r) {
        for (int k = 0; k < kKeysPerThread; ++k) {
          // Private keys: plain addresses (resolved against the module map) and names.
          const uintptr_t own = (k % 2 == 0 ? 0x200000 : kNamedSiteBit | 0x300000) +
                                static_cast<uintptr_t>(th * kKeysPerThread + k) * 16;
          for (uintptr_t key : {own, kShared}) {
            const uint32_t id = t.FindOrInsert(key);
            ASSERT_NE(id, 0u);
            t.RecordAlloc(id, 4096, 1.0);
            t.RecordAlloc(id, 100, 8.0);  // a sample standing for 8
            t.RecordFree(id, 4096, 1.0, 1000 + k, k % 3 == 0);
          }
        }
      }
    });
  }
  for (std::thread& w : writers) w.join();
  stop.store(true);
  reader.join();
  EXPECT_GT(snapshots.load(), 0u);
  SiteSnapshot s;
  const uint32_t shared = t.FindOrInsert(kShared);
  Snapshot(shared, t.Get(shared), &s);
  constexpr double kRecords = double{kThreads} * kKeysPerThread * kRounds;
  EXPECT_DOUBLE_EQ(s.allocs, kRecords * 9);
  EXPECT_DOUBLE_EQ(s.frees, kRecords);
  EXPECT_EQ(s.bytes, static_cast<uint64_t>(kRecords * (4096 + 800)));
  EXPECT_EQ(s.live_bytes, static_cast<int64_t>(kRecords * 800));
  const uint32_t one = t.FindOrInsert(0x200000);
  Snapshot(one, t.Get(one), &s);
  EXPECT_DOUBLE_EQ(s.allocs, kRounds * 9);
}

TEST(SiteTable, FullTableCountsNewSitesInOverflowAndReportsThemDropped) {
  SiteTable& t = Sites();
  // Fill the table (other tests may have used a few slots).
  uint32_t overflow_hits = 0;
  // Sites are calling contexts: 4596 callers of one allocation call.
  for (uintptr_t k = 0; k < kMaxSites + 500; ++k) {
    const FrameKey frames[2] = {{"", "/usr/bin/prog", 0x1000}, {"", "/usr/bin/prog", 0x40000 + k * 16}};
    const uint32_t id = t.FindOrInsert(ContextKeyOf(frames, 2));
    if (id == kOverflowSite) {
      ++overflow_hits;
      t.RecordAlloc(id, 32, 1.0);
    }
  }
  EXPECT_GE(overflow_hits, 400u);
  EXPECT_GE(t.dropped_sites(), overflow_hits * 9 / 10);  // distinct keys, up to hash collisions
  SiteSnapshot s;
  Snapshot(kOverflowSite, t.Get(kOverflowSite), &s);
  EXPECT_TRUE(s.overflow);
  EXPECT_DOUBLE_EQ(s.allocs, overflow_hits);
}

// Contexts past the context table's bound share kOverflowContextKey, which has no frames:
// a site of its own would be one that neither the site report nor telemetry can name
// (the telemetry reader refused such files). They belong to the overflow site.
TEST(SiteTable, OverflowContextsAreTheOverflowSite) {
  SiteTable& t = Sites();
  const uint64_t dropped = t.dropped_sites();
  EXPECT_EQ(t.FindOrInsert(kOverflowContextKey), kOverflowSite);
  EXPECT_EQ(t.dropped_sites(), dropped);  // DroppedContexts counts them, not dropped_sites
}

TEST(SizeBuckets, ClassesBelowTheThresholdPowersOfTwoAbove) {
  EXPECT_EQ(SizeBucketLimit(SizeBucket(100)), 112u);
  EXPECT_EQ(SizeBucketLimit(SizeBucket(300 * 1024)), (uint64_t{1} << 19) - 1);
  EXPECT_EQ(SizeBucketLimit(SizeBucket(1 << 20)), (uint64_t{1} << 21) - 1);
  for (size_t s : {size_t{1}, size_t{4096}, size_t{1} << 18, size_t{1} << 30, size_t{1} << 46}) {
    EXPECT_GE(SizeBucketLimit(SizeBucket(s)), s) << s;
  }
  EXPECT_EQ(LifetimeBucket(0), 0);
  EXPECT_EQ(LifetimeBucket(1500), 10);
}

TEST(ModuleMap, ParsesTheGnuBuildIdNote) {
  alignas(4) unsigned char notes[64] = {};
  Elf64_Nhdr other{4, 4, 1};  // an unrelated note first
  Elf64_Nhdr nh{4, 8, NT_GNU_BUILD_ID};
  size_t off = 0;
  memcpy(notes + off, &other, sizeof(other));
  off += sizeof(other);
  memcpy(notes + off, "GNU", 4);
  off += 8;  // name + 4 bytes of descriptor
  memcpy(notes + off, &nh, sizeof(nh));
  off += sizeof(nh);
  memcpy(notes + off, "GNU", 4);
  off += 4;
  const unsigned char id[8] = {0xde, 0xad, 0xbe, 0xef, 0x01, 0x23, 0x45, 0x67};
  memcpy(notes + off, id, 8);
  off += 8;
  char hex[65];
  ASSERT_TRUE(BuildIdFromNotes(notes, off, hex, sizeof(hex)));
  EXPECT_STREQ(hex, "deadbeef01234567");
  EXPECT_FALSE(BuildIdFromNotes(notes, sizeof(Elf64_Nhdr) + 8, hex, sizeof(hex)));
  EXPECT_FALSE(BuildIdFromNotes(notes, off - 1, hex, sizeof(hex)));  // truncated
}

TEST(ModuleMap, ResolvesOurOwnCodeToThisExecutable) {
  const CodeKey k = ResolveAddress(reinterpret_cast<uintptr_t>(&ResolveAddress));
  ASSERT_GE(k.module, 0);
  const Module* m = GetModule(k.module);
  ASSERT_NE(m, nullptr);
  EXPECT_NE(strstr(m->path, "site_table_test"), nullptr) << m->path;
  EXPECT_EQ(k.offset, reinterpret_cast<uintptr_t>(&ResolveAddress) - m->load_base);
}

}  // namespace
}  // namespace callsite
}  // namespace hakmem
