// The transfer cache's capacity: it grows for a class whose batches flow from one
// thread's frees to another's allocations, and only then.
#include "core/central_freelist.h"

#include <algorithm>
#include <thread>
#include <vector>

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

std::vector<void*> TakeBatches(int c, int k) {
  std::vector<void*> out;
  for (int i = 0; i < k; ++i) {
    void* head = nullptr;
    EXPECT_EQ(Central(c).RemoveRange(c, &head, BatchSize(c)), BatchSize(c));
    out.push_back(head);
  }
  return out;
}

void GiveBatches(int c, const std::vector<void*>& batches) {
  for (void* b : batches) Central(c).InsertRange(c, b, BatchSize(c));
}

void Drain(int c) {  // empties the transfer cache, then decays the class's capacity
  Central(c).Release(c, 1, 1);
  Central(c).Release(c, 1'000'000'000, 1);
}

class TransferCache : public ::testing::Test {
 protected:
  void SetUp() override {
    c_ = TestClass();
    Drain(c_);
    base_ = Central(c_).GetClassStats(c_).transfer_capacity;
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
  EXPECT_EQ(Central(c_).GetClassStats(c_).transfer_batches, base_);
  const std::vector<void*> again = TakeBatches(c_, base_ + 1);
  EXPECT_EQ(Central(c_).GetClassStats(c_).transfer_capacity, base_);
  GiveBatches(c_, again);
}

TEST_F(TransferCache, BatchesFlowingBetweenThreadsDoubleItUpToItsLimit) {
  // 4 MiB of the class's batches at most.
  const size_t batch_bytes = ClassSize(c_) * static_cast<size_t>(BatchSize(c_));
  const int limit = static_cast<int>((size_t{4} << 20) / batch_bytes);
  ASSERT_GT(limit, 2 * base_);
  std::vector<void*> held = TakeBatches(c_, base_ + 1);
  int expected = base_;
  for (int round = 0; round < 20 && expected < limit; ++round) {
    // This thread frees more than the cache holds; another thread then allocates it all
    // and finds the cache empty: the class's batches flow between threads.
    GiveBatches(c_, held);
    const int n = static_cast<int>(held.size());
    std::thread consumer([&] { held = TakeBatches(c_, n + 1); });
    consumer.join();
    const int cap = Central(c_).GetClassStats(c_).transfer_capacity;
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
  // Idle for the decay period: its batches go back to the spans and it shrinks back.
  Drain(c_);
  const CentralFreeList::ClassStats s = Central(c_).GetClassStats(c_);
  EXPECT_EQ(s.transfer_batches, 0);
  EXPECT_EQ(s.transfer_capacity, base_);
}

}  // namespace
}  // namespace hakmem
