// The per-class central free list, shared by all threads. Thread caches move objects in
// and out of it a batch at a time, so its lock is taken once per batch, never per object.
//
// Two levels, as in tcmalloc: a transfer cache, and behind it the class's spans, where
// objects go when the transfer cache is full and come from when it is empty. A span whose
// objects have all come back goes to the page heap at once, where any class can reuse it.
//
// The transfer cache is an array of object pointers, not of linked batches: a flush copies
// the pointers in, a refill copies them out, and the refilling thread links the objects
// into its own list itself. Why: a list linked by the thread that freed the objects is
// linked through lines that thread's core last wrote. The next thread to pop it loads each
// object's link to find the next one, so each pop waits for a line to come from the other
// core, one after another, and nothing overlaps them. On xmalloc-test (producer threads
// allocate, consumer threads free), 89% of malloc's samples sat on that one load. Linking
// at refill turns those loads into stores, which the core issues without waiting for each
// other, and the pops that follow hit the cache.
//
// Cross-thread frees. A block freed by a thread other than its allocator's goes into the
// freeing thread's cache like any other (no owner is told), and reaches the allocating
// thread a batch at a time through the transfer cache: one lock and one copy of a batch's
// pointers each way. What made that path slow was its size: a producer/consumer pair moves more
// than the transfer cache holds between two refills, so the excess went object by object
// back to the spans and came back object by object (xmalloc-test under callgrind: 30%
// of all instructions in ReturnToSpan and FillFromSpans). A class whose batches flow
// between threads (one thread's flush found the transfer cache full, then another
// thread's refill found it empty) doubles its capacity, up to kMaxBatches; a class used
// by one thread keeps the small one, and decay shrinks it back.
//
// Shards. There are up to kMaxShards copies of the central lists, and each thread takes
// its objects from one shard (the one with fewest live threads when it starts). With one
// set of lists, two threads that each allocate and free their own blocks still share
// spans: the transfer cache hands a batch one thread flushed to another, and refills
// carve neighbouring objects for both. Then neighbouring objects of one cache line belong
// to two threads, and every write to one evicts the other's core's copy.
// glibc-thread (two threads, no block crosses) ran at about twice mimalloc's time with
// one set and at its time with shards. A span stays in the shard that carved it;
// a flush sorts objects by shard (ShardOf: one load from a byte map per object, skipped
// while one shard is in use), so a block freed by another thread still goes back
// a batch at a time, to its own shard's transfer cache. A flush that mixes shards is
// split, and each part goes into its shard's transfer cache (rptest frees its own and
// other threads' blocks side by side, so most of its batches mix). Single-threaded programs use one shard and see no change.
#ifndef HAKMEM_CORE_CENTRAL_FREELIST_H_
#define HAKMEM_CORE_CENTRAL_FREELIST_H_

#include <stddef.h>
#include <stdint.h>

#include "core/lock.h"
#include "core/types.h"

namespace hakmem {

// An intrusive doubly linked list of spans with O(1) push and unlink.
struct SpanQueue {
  Span* head = nullptr;
  void PushFront(Span* s);
  void Remove(Span* s);
  bool empty() const { return head == nullptr; }
};

class CentralFreeList {
 public:
  constexpr CentralFreeList() = default;

  // Fetches up to `n` objects (at most kMaxBatch) into out[0..n), the most recently
  // cached first. Returns how many: fewer than `n` only when the heap is exhausted. The
  // objects' contents are left as they are: they are not linked.
  int RemoveRange(int size_class, void** out, int n);

  // Takes back objs[0..n) (n at most kMaxBatch), the most recently freed first: those
  // stay in the transfer cache while it has room, the rest go back to their spans.
  void InsertRange(int size_class, void* const* objs, int n);

  // Batches untouched for `decay_ns` go back to their spans (and emptied spans to the
  // page heap, which returns their pages to the OS after its own decay).
  void Release(int size_class, uint64_t now_ns, uint64_t decay_ns);

  // Telemetry's view of the class (takes the lock): spans it holds, and objects handed
  // to thread caches net of those given back (in use, or cached per thread).
  struct ClassStats {
    uint64_t spans;
    uint64_t span_bytes;
    uint64_t objects_out;
    int transfer_batches;   // batches' worth held now, a part counting as one
    int transfer_capacity;  // and how many it holds before objects go back to spans
  };
  ClassStats GetClassStats(int size_class);

  void LockForFork() ABSL_NO_THREAD_SAFETY_ANALYSIS { lock_.Lock(); }
  void UnlockForFork() ABSL_NO_THREAD_SAFETY_ANALYSIS { lock_.Unlock(); }
  void ResetAfterFork() { lock_.ResetAfterFork(); }

 private:
  // 64-object batches of the smallest classes: 1024 batches are 4 MiB of 64-byte ones.
  static constexpr int kMaxBatches = 1024;

  // Whole batches of the class in `bytes`, at least 2 and at most kMaxBatches.
  static int BatchesWorth(int size_class, size_t bytes);
  // The capacity a class starts from and decays back to, in batches.
  int BaseBatches(int size_class) const;
  // The most a class flowing between threads grows to.
  int MaxBatches(int size_class) const;
  // What the transfer cache holds now, in batches.
  int Capacity(int size_class) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_) {
    return capacity_ != 0 ? capacity_ : BaseBatches(size_class);
  }
  // The transfer cache's array, mapped on first use; nullptr if the OS refused it (then
  // every object goes back to its span).
  void** Slots(int size_class) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_);
  void ReturnToSpan(int size_class, void* obj) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_);
  int FillFromSpans(int size_class, void** out, int n) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_);
  Span* NewSpan(int size_class) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_);
  // Where this list sits in g_central (shard-major): its shard follows from it.
  size_t Index() const;
  int Shard() const;  // which shard this list belongs to

  SpinLock lock_;
  // The transfer cache: objects slots_[0..num_objects_), the most recently inserted last.
  // The array has room for MaxBatches() batches and lives in a mapping of its own, made
  // when the class first caches an object: only the pages the class has filled are
  // resident (a small program touches one page a class it uses), and decay gives back
  // all but the first (touched_ says how far it reached).
  void** slots_ ABSL_GUARDED_BY(lock_) = nullptr;
  bool slots_refused_ ABSL_GUARDED_BY(lock_) = false;
  int num_objects_ ABSL_GUARDED_BY(lock_) = 0;
  int touched_ ABSL_GUARDED_BY(lock_) = 0;
  int capacity_ ABSL_GUARDED_BY(lock_) = 0;  // in batches; 0: BaseBatches, not set yet
  // The thread whose flush last found the transfer cache full (0: none since the last
  // growth). A refill by another thread that finds it empty grows the capacity.
  uint32_t overflowed_by_ ABSL_GUARDED_BY(lock_) = 0;
  uint64_t last_remove_ns_ ABSL_GUARDED_BY(lock_) = 0;
  // Spans with objects to give (free list or uncarved space), most recently used first.
  SpanQueue partial_ ABSL_GUARDED_BY(lock_);
  // Counted per batch under the lock, never per object on a fast path.
  uint64_t spans_ ABSL_GUARDED_BY(lock_) = 0;
  uint64_t objects_out_ ABSL_GUARDED_BY(lock_) = 0;
};

// One per shard and size class; class 0 unused.
CentralFreeList& Central(int shard, int size_class);

// The shard for a thread being set up: the one with the fewest live threads, the lowest
// among equals, of the first NumShards(). When NumShards() came from the CPU count
// (HAKMEM_SHARDS=0) and each of those shards has two threads or more, the shards beyond
// it (up to kMaxShards) are candidates too. Never allocates.
int AcquireShard();
// A thread that had `shard` exits.
void ReleaseShard(int shard);
// HAKMEM_SHARDS, or when that is 0, one per CPU this process may run on (at most
// kMaxShards): the shards threads spread over before any shard has two threads.
int NumShards();
// 1 + the highest shard ever handed out: shards beyond it hold nothing.
int ShardsInUse();

// fn(size_class, list) for every class of every shard in use: what fork and decay walk.
template <typename Fn>
void ForEachCentralInUse(Fn fn) {
  const int shards = ShardsInUse();
  for (int s = 0; s < shards; ++s) {
    for (int c = 1; c < kNumClasses; ++c) fn(c, Central(s, c));
  }
}

// Telemetry's view of a class, summed over the shards.
CentralFreeList::ClassStats CentralClassStats(int size_class);

void CentralLockAllForFork();
void CentralUnlockAllForFork();
void CentralResetAllAfterFork();

}  // namespace hakmem

#endif  // HAKMEM_CORE_CENTRAL_FREELIST_H_
