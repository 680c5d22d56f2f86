// The transfer cache's capacity: it grows for a class whose batches flow from one
// thread's frees to another's allocations, and only then. Shards: a block goes back to the
// shard that carved it, whichever thread frees it, also under many threads. The target
// sets HAKMEM_SHARDS=4, so these tests do not depend on the machine's CPU count.
#include "core/central_freelist.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "core/os.h"
#include "core/page_map.h"
#include "core/size_class.h"
#include "core/thread_cache.h"
#include "gtest/gtest.h"

namespace hakmem {
namespace {

// A class this test alone uses (nothing else in the binary allocates 3 KiB objects), so
// its transfer cache holds only what the test puts there.
int TestClass() {
  int c = 1;
  while (ClassSize(c) < 3000) ++c;
  return c;
}

using Batch = std::vector<void*>;

Batch Take(int c, int n) {
  Batch b(static_cast<size_t>(n));
  EXPECT_EQ(Central(0, c).RemoveRange(c, b.data(), n), n);
  return b;
}

std::vector<Batch> TakeBatches(int c, int k) {
  std::vector<Batch> out;
  for (int i = 0; i < k; ++i) out.push_back(Take(c, BatchSize(c)));
  return out;
}

void Give(int c, const Batch& b) {
  Central(0, c).InsertRange(c, b.data(), static_cast<int>(b.size()));
}

void GiveBatches(int c, const std::vector<Batch>& batches) {
  for (const Batch& b : batches) Give(c, b);
}

void Drain(int c) {  // empties the transfer cache, then decays the class's capacity
  Central(0, c).Release(c, 1, 1);
  Central(0, c).Release(c, 1'000'000'000, 1);
}

class TransferCache : public ::testing::Test {
 protected:
  void SetUp() override {
    c_ = TestClass();
    Drain(c_);
    base_ = Central(0, c_).GetClassStats(c_).transfer_capacity;
    ASSERT_GE(base_, 2);
    CurrentThreadTag();
  }
  void TearDown() override { Drain(c_); }
  int c_ = 0;
  int base_ = 0;
};

TEST_F(TransferCache, OneThreadsOverflowAndRefillDoNotGrowIt) {
  // Full, one more batch back to the spans, then emptied and refilled: all one thread.
  GiveBatches(c_, TakeBatches(c_, base_ + 1));
  EXPECT_EQ(Central(0, c_).GetClassStats(c_).transfer_batches, base_);
  const std::vector<Batch> again = TakeBatches(c_, base_ + 1);
  EXPECT_EQ(Central(0, c_).GetClassStats(c_).transfer_capacity, base_);
  GiveBatches(c_, again);
}

// What a flush split by shard leaves, or a slow-starting thread's short flush: any part
// of a batch stays in the transfer cache, and a refill takes it first, the object freed
// last on top, then tops the batch up from the spans.
TEST_F(TransferCache, KeepsAPartOfABatchAndHandsItOutFirst) {
  const int batch = BatchSize(c_);
  ASSERT_GE(batch, 4);
  Batch taken = Take(c_, batch);
  const Batch part(taken.begin(), taken.begin() + 3);
  const Batch rest(taken.begin() + 3, taken.end());
  Give(c_, rest);
  Drain(c_);  // the rest back to its spans: only `part` will be cached
  Give(c_, part);
  EXPECT_EQ(Central(0, c_).GetClassStats(c_).transfer_batches, 1);
  Batch again = Take(c_, batch);
  EXPECT_EQ(again[0], part[0]) << "the object freed last comes out first";
  EXPECT_EQ(again[1], part[1]);
  EXPECT_EQ(again[2], part[2]);
  EXPECT_EQ(Central(0, c_).GetClassStats(c_).transfer_batches, 0);
  Give(c_, again);
}

// The transfer cache keeps pointers, not lists: it never writes into the objects, so the
// thread that refills links them itself (central_freelist.h says why). A cache that
// linked its batches through the objects would overwrite their first words.
TEST_F(TransferCache, LeavesTheObjectsUntouched) {
  const int batch = BatchSize(c_);
  Batch b = Take(c_, batch);
  for (int i = 0; i < batch; ++i) {
    memset(b[static_cast<size_t>(i)], 0x5a, ClassSize(c_));
  }
  Give(c_, b);
  Batch again = Take(c_, batch);
  for (int i = 0; i < batch; ++i) {
    const unsigned char* p = static_cast<const unsigned char*>(again[static_cast<size_t>(i)]);
    for (size_t j = 0; j < ClassSize(c_); ++j) {
      ASSERT_EQ(p[j], 0x5a) << "object " << i << " byte " << j;
    }
  }
  Give(c_, again);
}

// A full cache keeps what fits of a flush and sends the rest, the objects freed first,
// back to their spans; the books balance either way.
TEST_F(TransferCache, KeepsWhatFitsOfAFlushAndSendsTheRestToTheSpans) {
  const int batch = BatchSize(c_);
  const uint64_t out_before = Central(0, c_).GetClassStats(c_).objects_out;
  std::vector<Batch> held = TakeBatches(c_, base_);
  Batch extra = Take(c_, batch);
  Batch part(extra.begin(), extra.begin() + batch / 2);
  Give(c_, part);
  const Batch rest(extra.begin() + batch / 2, extra.end());
  for (const Batch& b : held) Give(c_, b);  // fills it: the last batch only partly fits
  EXPECT_EQ(Central(0, c_).GetClassStats(c_).transfer_batches, base_);
  Give(c_, rest);  // full: all to the spans
  EXPECT_EQ(Central(0, c_).GetClassStats(c_).objects_out, out_before);
  // What it holds comes out newest first: the last batch given, minus the part of it that
  // did not fit (its last objects, the first freed).
  Batch again = Take(c_, batch);
  const Batch& last = held.back();
  for (int i = 0; i < batch - batch / 2; ++i) {
    EXPECT_EQ(again[static_cast<size_t>(i)], last[static_cast<size_t>(i)]) << i;
  }
  Give(c_, again);
}

TEST_F(TransferCache, BatchesFlowingBetweenThreadsDoubleItUpToItsLimit) {
  // 4 MiB of the class's batches at most.
  const size_t batch_bytes = ClassSize(c_) * static_cast<size_t>(BatchSize(c_));
  const int limit = static_cast<int>((size_t{4} << 20) / batch_bytes);
  ASSERT_GT(limit, 2 * base_);
  std::vector<Batch> held = TakeBatches(c_, base_ + 1);
  int expected = base_;
  for (int round = 0; round < 20 && expected < limit; ++round) {
    // This thread frees more than the cache holds; another thread then allocates it all
    // and finds the cache empty: the class's batches flow between threads.
    GiveBatches(c_, held);
    const int n = static_cast<int>(held.size());
    std::thread consumer([&] { held = TakeBatches(c_, n + 1); });
    consumer.join();
    const int cap = Central(0, c_).GetClassStats(c_).transfer_capacity;
    ASSERT_EQ(cap, std::min(2 * expected, limit)) << "round " << round;
    expected = cap;
    held.resize(static_cast<size_t>(cap));
    for (size_t i = static_cast<size_t>(n) + 1; i < held.size(); ++i) {
      held[i] = TakeBatches(c_, 1)[0];
    }
    held.push_back(TakeBatches(c_, 1)[0]);  // one more than it holds, to overflow it
  }
  EXPECT_EQ(expected, limit);
  GiveBatches(c_, held);
  // Idle for the decay period: its batches go back to the spans, it shrinks back, and the
  // pages its array filled beyond the first go back to the OS (one madvise).
  const uint64_t madvise_before = os::GetCounters().madvise_calls;
  Drain(c_);
  const CentralFreeList::ClassStats s = Central(0, c_).GetClassStats(c_);
  EXPECT_EQ(s.transfer_batches, 0);
  EXPECT_EQ(s.transfer_capacity, base_);
  EXPECT_EQ(os::GetCounters().madvise_calls, madvise_before + 1);
}

int ClassOf(size_t size) {
  int c = 1;
  while (ClassSize(c) < size) ++c;
  return c;
}

// Sets the calling thread up (it has its shard from then on). The volatile store keeps
// the compiler from dropping the malloc/free pair.
int SetUpAndGetShard() {
  void* volatile p = malloc(16);
  free(p);
  return tl_cache.shard;
}

// The sampler serves a few small requests as large blocks (with a header for the site):
// only blocks in the small-object heap have a shard.
bool InHeap(const void* p, int c) { return PageClassOf(p) == c; }

uint64_t ObjectsOut(int shard, int c) { return Central(shard, c).GetClassStats(c).objects_out; }

// Two threads alive at once, so on different shards: one allocates, the other frees what
// the first allocated mixed with blocks of its own, then both exit (flushing their caches).
TEST(Shards, ABlockGoesBackToTheShardThatCarvedIt) {
  ASSERT_EQ(NumShards(), 4);
  const int c = ClassOf(5000);  // nothing else in the binary allocates 5000-byte blocks
  constexpr int kBlocks = 300;
  std::vector<void*> from_a;
  std::atomic<int> step{0};
  int shard_a = -1, shard_b = -1;
  uint64_t before[kMaxShards];
  for (int s = 0; s < kMaxShards; ++s) before[s] = ObjectsOut(s, c);

  std::thread a([&] {
    shard_a = SetUpAndGetShard();
    step.store(1);
    while (step.load() < 2) std::this_thread::yield();
    for (int i = 0; i < kBlocks; ++i) from_a.push_back(malloc(5000));
    for (void* p : from_a) {
      if (InHeap(p, c)) {
        EXPECT_EQ(ShardOf(p), shard_a);
      }
    }
  });
  std::thread b([&] {
    while (step.load() < 1) std::this_thread::yield();
    shard_b = SetUpAndGetShard();
    step.store(2);
    a.join();
    ASSERT_NE(shard_a, shard_b) << "two threads alive at once share a shard";
    std::vector<void*> own;
    for (int i = 0; i < kBlocks; ++i) own.push_back(malloc(5000));
    for (void* p : own) {
      if (InHeap(p, c)) {
        EXPECT_EQ(ShardOf(p), shard_b);
      }
    }
    // Half of a's blocks alone (b's cache flushes batches of a's shard only), then the
    // rest interleaved with b's own (batches holding blocks of both shards).
    for (int i = 0; i < kBlocks / 2; ++i) free(from_a[static_cast<size_t>(i)]);
    for (int i = kBlocks / 2; i < kBlocks; ++i) {
      free(from_a[static_cast<size_t>(i)]);
      free(own[static_cast<size_t>(i)]);
    }
    for (int i = 0; i < kBlocks / 2; ++i) free(own[static_cast<size_t>(i)]);
  });
  b.join();
  // Both caches were flushed at thread exit: every block is back in its own shard.
  for (int s = 0; s < kMaxShards; ++s) EXPECT_EQ(ObjectsOut(s, c), before[s]) << "shard " << s;
}

// 32 threads in a ring on 4 shards: each allocates blocks of several classes, writes them,
// and hands them to the next thread, which checks and frees them. Blocks of every shard
// end up in every thread's cache, so flushes sort mixed batches all the time.
TEST(Shards, ManyThreadsFreeEachOthersBlocks) {
  constexpr int kThreads = 32, kRounds = 40, kPerRound = 96;
  const size_t kSizes[] = {48, 64, 1100, 6000, 20000};
  // Nothing else allocates blocks of these classes while the test runs: their books must
  // balance when every thread has exited.
  const int kCounted[] = {ClassOf(1100), ClassOf(6000), ClassOf(20000)};
  uint64_t before[3] = {};
  for (int k = 0; k < 3; ++k) before[k] = CentralClassStats(kCounted[k]).objects_out;

  struct Mailbox {
    std::mutex mu;
    std::vector<std::vector<void*>> letters;
  };
  std::vector<Mailbox> boxes(kThreads);
  std::atomic<int> finished{0};
  std::atomic<int> bad{0};
  auto stamp = [](void* p, size_t size, uintptr_t tag) {
    memcpy(p, &tag, sizeof(tag));
    memcpy(static_cast<char*>(p) + size - sizeof(tag), &tag, sizeof(tag));
  };
  auto check = [&](void* p, size_t size) {
    uintptr_t head, tail;
    memcpy(&head, p, sizeof(head));
    memcpy(&tail, static_cast<char*>(p) + size - sizeof(tail), sizeof(tail));
    if (head != tail || (head & 0xff) != size % 251) bad.fetch_add(1);
  };
  auto drain = [&](int t) {
    std::vector<std::vector<void*>> mail;
    {
      std::lock_guard<std::mutex> l(boxes[static_cast<size_t>(t)].mu);
      mail.swap(boxes[static_cast<size_t>(t)].letters);
    }
    for (const auto& letter : mail) {
      for (size_t i = 0; i < letter.size(); ++i) {
        const size_t size = kSizes[i % (sizeof(kSizes) / sizeof(kSizes[0]))];
        check(letter[i], size);
        free(letter[i]);
      }
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRounds; ++r) {
        std::vector<void*> letter;
        for (int i = 0; i < kPerRound; ++i) {
          const size_t size = kSizes[static_cast<size_t>(i) % (sizeof(kSizes) / sizeof(kSizes[0]))];
          void* p = malloc(size);
          stamp(p, size, (static_cast<uintptr_t>(t) << 32) | (static_cast<uintptr_t>(r) << 16) |
                             (size % 251));
          letter.push_back(p);
        }
        const int next = (t + 1) % kThreads;
        {
          std::lock_guard<std::mutex> l(boxes[static_cast<size_t>(next)].mu);
          boxes[static_cast<size_t>(next)].letters.push_back(std::move(letter));
        }
        drain(t);
      }
      // Stay until every thread has posted its last letter, then take the rest: each
      // thread frees its own mail, so the blocks cross threads to the end.
      finished.fetch_add(1);
      while (finished.load() < kThreads) std::this_thread::yield();
      drain(t);
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0) << "blocks changed while they crossed threads";
  for (int k = 0; k < 3; ++k) {
    EXPECT_EQ(CentralClassStats(kCounted[k]).objects_out, before[k])
        << "class of " << ClassSize(kCounted[k]) << " bytes";
  }
}

// Its own target, with HAKMEM_SHARDS unset: one shard per CPU, and past that a new shard
// only once every per-CPU shard has two threads. 32 threads alive at once (this one and
// 31 more, set up one after another) end up two on every one of the 16 shards.
TEST(AutoShards, MoreThreadsThanCpusOpenMoreShardsTwoThreadsEach) {
  if (std::getenv("HAKMEM_SHARDS") != nullptr) GTEST_SKIP() << "needs HAKMEM_SHARDS unset";
  const int cpus = NumShards();
  constexpr int kThreads = 2 * kMaxShards;
  std::vector<int> shard_of(kThreads, -1);
  shard_of[0] = SetUpAndGetShard();
  std::atomic<int> ready{1};
  std::atomic<bool> release{false};
  std::vector<std::thread> threads;
  for (int t = 1; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      shard_of[static_cast<size_t>(t)] = SetUpAndGetShard();
      ready.fetch_add(1);
      while (!release.load()) std::this_thread::yield();
    });
    while (ready.load() <= t) std::this_thread::yield();  // one at a time, in order
  }
  release.store(true);
  for (auto& th : threads) th.join();
  int per_shard[kMaxShards] = {};
  for (int t = 0; t < kThreads; ++t) {
    const int s = shard_of[static_cast<size_t>(t)];
    ASSERT_GE(s, 0);
    ASSERT_LT(s, kMaxShards);
    ++per_shard[s];
    if (t < 2 * cpus) {
      EXPECT_LT(s, cpus) << "thread " << t << " opened a shard beyond one per CPU (" << cpus
                         << ") before every per-CPU shard had two threads";
    }
  }
  for (int s = 0; s < kMaxShards; ++s) EXPECT_EQ(per_shard[s], 2) << "shard " << s;
}

}  // namespace
}  // namespace hakmem
