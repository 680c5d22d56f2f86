#include "core/thread_cache.h"

#include <atomic>

#include "core/bigcache_hooks.h"
#include "core/central_freelist.h"
#include "core/decay.h"
#include "core/init.h"
#include "core/page_map.h"
#include "core/route.h"
#include "core/size_class.h"

namespace hakmem {

__thread ThreadCache tl_cache __attribute__((tls_model("initial-exec")));

namespace {

// A list's limit starts at one object and grows by one at every refill and overflow, up
// to twice the batch (tcmalloc's slow start). A class that only ever holds a handful of
// objects so never pulls in, or pins, a full batch: for small programs that is most of
// the resident memory a thread cache could cost.
inline uint32_t MaxLength(int c) { return 2u * static_cast<uint32_t>(BatchSize(c)); }

inline void Grow(FreeList& l, int c) {
  if (l.max_length < MaxLength(c)) ++l.max_length;
}

void SetUpThread() {
  EnsureInitialized();
  ThreadCache& tc = tl_cache;
  for (int c = 1; c < kNumClasses; ++c) tc.lists[c].max_length = 1;
  tc.shard = static_cast<uint8_t>(AcquireShard());
  tc.state = ThreadState::kActive;
  if (!tc.exit_hook_registered) {
    // Registering may allocate (glibc grows its key table with calloc); the cache is
    // fully usable by now, and the flag stops the nested call from registering again.
    tc.exit_hook_registered = true;
    RegisterThreadExitHook();
  }
}

// The heap reservation is full (or could not be made, e.g. under a tight RLIMIT_AS):
// serve the class's size from the large route instead, at the alignment the class
// guarantees, rather than fail while the OS still has memory.
HAK_NOINLINE void* HeapExhausted(int c) {
  const size_t size = ClassSize(c);
  size_t align = size & (~size + 1);  // the largest power of two dividing the class size
  if (align > kMaxClassAlign) align = kMaxClassAlign;
  return RouteAllocate(size, align, nullptr, 0);  // sets ENOMEM if that fails too
}

inline void* NextOf(void* p) { return *static_cast<void**>(p); }

// A batch whose objects belong to more than one shard: each shard gets its own part, in
// the batch's order.
HAK_NOINLINE void InsertByShard(int c, void* const* objs, int n) {
  uint8_t shard_of[kMaxBatch];
  int start[kMaxShards + 1] = {};
  for (int i = 0; i < n; ++i) {
    shard_of[i] = static_cast<uint8_t>(ShardOf(objs[i]));
    ++start[shard_of[i] + 1];
  }
  for (int s = 0; s < kMaxShards; ++s) start[s + 1] += start[s];
  void* sorted[kMaxBatch];
  int at[kMaxShards];
  for (int s = 0; s < kMaxShards; ++s) at[s] = start[s];
  for (int i = 0; i < n; ++i) sorted[at[shard_of[i]]++] = objs[i];
  for (int s = 0; s < kMaxShards; ++s) {
    const int k = start[s + 1] - start[s];
    if (k != 0) Central(s, c).InsertRange(c, sorted + start[s], k);
  }
}

// Sends the first `n` objects of list `c` to the central lists of their shards.
void FlushObjects(int c, uint32_t n) {
  FreeList& l = tl_cache.lists[c];
  const int batch = BatchSize(c);
  // While one shard is in use every object is shard 0's: no lookups.
  const bool sharded = ShardsInUse() > 1;
  void* objs[kMaxBatch];
  while (n > 0) {
    const int k = n < static_cast<uint32_t>(batch) ? static_cast<int>(n) : batch;
    void* p = l.head;
    const int shard = sharded ? ShardOf(p) : 0;
    bool mixed = false;
    for (int i = 0; i < k; ++i) {
      objs[i] = p;
      if (sharded) mixed |= ShardOf(p) != shard;
      p = NextOf(p);
    }
    l.head = p;
    l.length -= static_cast<uint32_t>(k);
    n -= static_cast<uint32_t>(k);
    if (HAK_LIKELY(!mixed)) {
      Central(shard, c).InsertRange(c, objs, k);
    } else {
      InsertByShard(c, objs, k);
    }
  }
}

}  // namespace

void* AllocateSmallSlow(int c) {
  ThreadCache& tc = tl_cache;
  if (HAK_UNLIKELY(tc.state != ThreadState::kActive)) {
    if (tc.state == ThreadState::kNew) {
      SetUpThread();
    } else {  // exiting thread: no cache, one object at a time
      void* p = nullptr;
      if (Central(tc.shard, c).RemoveRange(c, &p, 1) == 1) return p;
      return HeapExhausted(c);
    }
  }
  FreeList& l = tc.lists[c];
  if (l.head != nullptr) {  // set-up above may have allocated and freed into this list
    void* p = l.head;
    l.head = *static_cast<void**>(p);
    --l.length;
    return p;
  }
  MaybeReleaseIdleMemory();
  const int want = static_cast<int>(l.max_length) < BatchSize(c) ? static_cast<int>(l.max_length)
                                                                 : BatchSize(c);
  Grow(l, c);
  void* objs[kMaxBatch];
  const int n = Central(tc.shard, c).RemoveRange(c, objs, want);
  if (n == 0) return HeapExhausted(c);
  // This thread links the objects, not the one that freed them (central_freelist.h says
  // why): these stores go out without waiting on each other, and the pops that follow
  // read lines this core now holds.
  void* next = nullptr;
  for (int i = n - 1; i >= 1; --i) {
    *static_cast<void**>(objs[i]) = next;
    next = objs[i];
  }
  l.head = next;
  l.length = static_cast<uint32_t>(n - 1);
  return objs[0];
}

void DeallocateSmallSlow(int c) {
  ThreadCache& tc = tl_cache;
  FreeList& l = tc.lists[c];
  if (HAK_UNLIKELY(tc.state != ThreadState::kActive)) {
    if (tc.state == ThreadState::kNew) {
      SetUpThread();
      if (l.length <= l.max_length) return;
    } else {
      FlushObjects(c, l.length);
      return;
    }
  }
  MaybeReleaseIdleMemory();
  // Keep half the limit: the list neither empties (a refill would follow) nor stays full.
  const uint32_t excess = l.length - l.max_length / 2;
  const uint32_t batch = static_cast<uint32_t>(BatchSize(c));
  Grow(l, c);
  FlushObjects(c, excess < batch ? excess : batch);
}

uint32_t CurrentThreadTag() {
  static std::atomic<uint32_t> next{1};
  uint32_t t = tl_cache.thread_tag;
  if (HAK_UNLIKELY(t == 0)) {
    do {
      t = next.fetch_add(1, std::memory_order_relaxed);
    } while (t == 0);
    tl_cache.thread_tag = t;
  }
  return t;
}

void ThreadCacheExit() {
  if (BigCacheLinked()) BigCacheThreadExit();
  ThreadCache& tc = tl_cache;
  tc.state = ThreadState::kDead;
  for (int c = 1; c < kNumClasses; ++c) {
    tc.lists[c].max_length = 0;
    FlushObjects(c, tc.lists[c].length);
  }
  ReleaseShard(tc.shard);
}

}  // namespace hakmem
