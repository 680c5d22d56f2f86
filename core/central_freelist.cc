#include "core/central_freelist.h"

#include <atomic>

#include "core/options.h"
#include "core/os.h"
#include "core/page_heap.h"
#include "core/page_map.h"
#include "core/size_class.h"
#include "core/thread_cache.h"

namespace hakmem {

void SpanQueue::PushFront(Span* s) {
  s->prev = nullptr;
  s->next = head;
  if (head != nullptr) head->prev = s;
  head = s;
}

void SpanQueue::Remove(Span* s) {
  if (s->prev != nullptr) s->prev->next = s->next; else head = s->next;
  if (s->next != nullptr) s->next->prev = s->prev;
  s->next = s->prev = nullptr;
}

namespace {

CentralFreeList g_central[kMaxShards][kNumClasses];

// Live threads per shard, for AcquireShard's choice.
SpinLock g_shard_lock;
int g_shard_threads[kMaxShards] ABSL_GUARDED_BY(g_shard_lock) = {};
std::atomic<int> g_shards_in_use{1};
std::atomic<int> g_num_shards{0};  // 0: not worked out yet
// With the shard count worked out from the CPUs, a thread opens a shard beyond one per
// CPU only when every per-CPU shard already has this many threads.
constexpr int kThreadsPerShardBeforeMore = 2;

inline void* NextOf(void* p) { return *static_cast<void**>(p); }
inline void SetNext(void* p, void* n) { *static_cast<void**>(p) = n; }

inline int SpanGranules(int c) { return 1 << (SpanShift(c) - kGranuleShift); }

inline char* SpanStart(const Span* s) {
  return reinterpret_cast<char*>(g_heap_base) + (static_cast<size_t>(s - g_spans) << kGranuleShift);
}

// The span holding `obj`: spans are aligned to their size, so its first granule is the
// object's granule rounded down to the span's granule count.
inline Span* SpanOf(const void* obj, int c) {
  return &g_spans[GranuleOf(obj) & ~static_cast<uintptr_t>(SpanGranules(c) - 1)];
}

void SetClass(const Span* s, int granules, int c) {
  const size_t first = static_cast<size_t>(s - g_spans);
  for (int i = 0; i < granules; ++i) {
    __atomic_store_n(&g_page_class[first + i], static_cast<uint8_t>(c), __ATOMIC_RELEASE);
  }
}

}  // namespace

CentralFreeList& Central(int shard, int size_class) { return g_central[shard][size_class]; }

int NumShards() {
  int n = g_num_shards.load(std::memory_order_relaxed);
  if (HAK_LIKELY(n != 0)) return n;
  n = static_cast<int>(GetOption(Option::kShards));
  if (n == 0) {
    // One per CPU. Two per CPU measured the same on glibc-thread and xmalloc-test, and
    // cost larson 1.4x the peak RSS (each shard keeps its own partly used spans).
    n = os::AllowedCpus();
  }
  if (n < 1) n = 1;
  if (n > kMaxShards) n = kMaxShards;
  g_num_shards.store(n, std::memory_order_relaxed);
  return n;
}

int ShardsInUse() { return g_shards_in_use.load(std::memory_order_acquire); }

int AcquireShard() {
  const int n = NumShards();
  SpinLockHolder h(&g_shard_lock);
  int best = 0;
  for (int i = 1; i < n; ++i) {
    if (g_shard_threads[i] < g_shard_threads[best]) best = i;
  }
  // More threads than CPUs. With 32 threads on 2 CPUs, 16 threads took each central lock,
  // and one preempted while holding it stalled the others: larson-sized ran 1.27x
  // mimalloc's time and xmalloc-test 1.14x, against 1.09x and 0.97x with 16 shards. So
  // past two threads on every per-CPU shard, more shards open (up to kMaxShards). Not
  // sooner: a program that briefly has one thread more than CPUs (larson hands each
  // round to a new thread before the old one exits) would pay a shard's partly used
  // spans for nothing (larson's peak RSS rose 1.4x with two shards per CPU).
  // HAKMEM_SHARDS=N fixes the count; 0 (the CPU count) lets it grow.
  if (g_shard_threads[best] >= kThreadsPerShardBeforeMore &&
      GetOption(Option::kShards) == 0) {
    for (int i = n; i < kMaxShards; ++i) {
      if (g_shard_threads[i] < g_shard_threads[best]) best = i;
    }
  }
  ++g_shard_threads[best];
  if (best >= g_shards_in_use.load(std::memory_order_relaxed)) {
    g_shards_in_use.store(best + 1, std::memory_order_release);
  }
  return best;
}

void ReleaseShard(int shard) {
  SpinLockHolder h(&g_shard_lock);
  if (g_shard_threads[shard] > 0) --g_shard_threads[shard];
}

// A small program touches the list of every class it uses: they must share pages.
static_assert(sizeof(CentralFreeList) <= 128, "a central list outgrew its share of a page");

size_t CentralFreeList::Index() const {
  return static_cast<size_t>(this - &g_central[0][0]);
}

void** CentralFreeList::Slots(int c) {
  if (slots_ == nullptr && !slots_refused_) {
    const size_t bytes = static_cast<size_t>(MaxBatches(c)) * static_cast<size_t>(BatchSize(c)) *
                         sizeof(void*);
    slots_ = static_cast<void**>(os::Map(PageRound(bytes)));
    slots_refused_ = slots_ == nullptr;
  }
  return slots_;
}

int CentralFreeList::Shard() const { return static_cast<int>(Index() / kNumClasses); }

int CentralFreeList::BatchesWorth(int size_class, size_t bytes) {
  const size_t batch_bytes = ClassSize(size_class) * static_cast<size_t>(BatchSize(size_class));
  size_t n = bytes / batch_bytes;
  if (n < 2) n = 2;
  if (n > kMaxBatches) n = kMaxBatches;
  return static_cast<int>(n);
}

int CentralFreeList::BaseBatches(int size_class) const {
  // About 128 KiB of whole batches per class: enough to absorb a thread's burst (larson
  // measured no faster with 512 KiB), small enough that ninety-odd classes do not pin
  // much before decay flushes them (512 KiB for every class cost sqlite3 3 MiB of peak
  // RSS).
  return BatchesWorth(size_class, 128 * 1024);
}

int CentralFreeList::MaxBatches(int size_class) const {
  // 4 MiB worth: xmalloc-test's producer/consumer bursts of 64-byte objects fit.
  return BatchesWorth(size_class, 4096 * 1024);
}

Span* CentralFreeList::NewSpan(int c) {
  const int granules = SpanGranules(c);
  char* start = AllocateSpan(granules);
  if (start == nullptr) return nullptr;
  Span* s = &g_spans[GranuleOf(start)];
  const size_t size = ClassSize(c);
  const size_t cap = (static_cast<size_t>(granules) << kGranuleShift) / size;
  s->free_list = nullptr;
  s->bump = start;
  s->end = start + cap * size;
  s->used = 0;
  s->capacity = static_cast<uint32_t>(cap);
  s->size_class = static_cast<uint8_t>(c);
  s->list = kSpanPartial;
  SetClass(s, granules, c);
  const size_t first = GranuleOf(start);
  const uint8_t shard = static_cast<uint8_t>(Shard());
  for (int i = 0; i < granules; ++i) {
    __atomic_store_n(&g_page_shard[first + i], shard, __ATOMIC_RELAXED);
  }
  partial_.PushFront(s);
  ++spans_;
  return s;
}

void CentralFreeList::ReturnToSpan(int c, void* obj) {
  Span* s = SpanOf(obj, c);
  HAK_ASSERT(s->used > 0 && s->size_class == c && ShardOf(obj) == Shard());
  SetNext(obj, s->free_list);
  s->free_list = obj;
  const uint8_t was = s->list;
  if (--s->used == 0) {
    // All objects are back: the span goes to the page heap for any class to reuse.
    if (was == kSpanPartial) partial_.Remove(s);
    s->list = kSpanNone;
    const int granules = SpanGranules(c);
    SetClass(s, granules, 0);
    FreeSpan(SpanStart(s), granules);
    --spans_;
  } else if (was == kSpanFull) {
    s->list = kSpanPartial;
    partial_.PushFront(s);
  }
}

int CentralFreeList::FillFromSpans(int c, void** out, int n) {
  const size_t size = ClassSize(c);
  int got = 0;
  while (got < n) {
    Span* s = partial_.empty() ? NewSpan(c) : partial_.head;
    if (s == nullptr) break;
    while (got < n && s->free_list != nullptr) {
      void* obj = s->free_list;
      s->free_list = NextOf(obj);
      out[got++] = obj;
      ++s->used;
    }
    while (got < n && s->bump < s->end) {
      out[got++] = s->bump;
      s->bump += size;
      ++s->used;
    }
    if (s->free_list == nullptr && s->bump == s->end) {
      partial_.Remove(s);
      s->list = kSpanFull;
    }
  }
  return got;
}

int CentralFreeList::RemoveRange(int c, void** out, int n) {
  HAK_ASSERT(n >= 1 && n <= kMaxBatch);
  SpinLockHolder h(&lock_);
  last_remove_ns_ = 0;  // marks the class as in use; Release() stamps the time lazily
  if (num_objects_ == 0 && n == BatchSize(c) && overflowed_by_ != 0 &&
      overflowed_by_ != CurrentThreadTag()) {
    // Batches flow from one thread's frees to another's allocations, more than the
    // transfer cache held: hold twice as many before they go back to the spans.
    const int cap = Capacity(c);
    capacity_ = cap * 2 < MaxBatches(c) ? cap * 2 : MaxBatches(c);
    overflowed_by_ = 0;
  }
  // The most recently inserted first: their lines are the likeliest still cached.
  int got = 0;
  while (got < n && num_objects_ > 0) out[got++] = slots_[--num_objects_];
  if (got < n) got += FillFromSpans(c, out + got, n - got);
  objects_out_ += static_cast<uint64_t>(got);
  return got;
}

void CentralFreeList::InsertRange(int c, void* const* objs, int n) {
  HAK_ASSERT(n >= 1 && n <= kMaxBatch);
  SpinLockHolder h(&lock_);
  objects_out_ -= static_cast<uint64_t>(n);
  const int room = Capacity(c) * BatchSize(c) - num_objects_;
  int kept = n < room ? n : room;
  void** slots = kept > 0 ? Slots(c) : nullptr;
  if (slots == nullptr) kept = 0;
  // objs[0] was freed last: it goes on top, so that it is the first handed out again.
  for (int i = kept - 1; i >= 0; --i) slots[num_objects_++] = objs[i];
  if (num_objects_ > touched_) touched_ = num_objects_;
  if (kept == n) return;
  if (n == BatchSize(c)) overflowed_by_ = CurrentThreadTag();
  for (int i = kept; i < n; ++i) ReturnToSpan(c, objs[i]);
}

CentralFreeList::ClassStats CentralFreeList::GetClassStats(int c) {
  SpinLockHolder h(&lock_);
  const int batch = BatchSize(c);
  return {spans_, spans_ * (static_cast<uint64_t>(SpanGranules(c)) << kGranuleShift), objects_out_,
          (num_objects_ + batch - 1) / batch, Capacity(c)};
}

void CentralFreeList::Release(int c, uint64_t now_ns, uint64_t decay_ns) {
  SpinLockHolder h(&lock_);
  // The first pass after a RemoveRange stamps the time; a later pass that finds the stamp
  // older than the decay period sends the batches back to their spans.
  if (last_remove_ns_ == 0) {
    last_remove_ns_ = now_ns;
    return;
  }
  if (now_ns < last_remove_ns_ || now_ns - last_remove_ns_ < decay_ns) return;
  capacity_ = 0;  // idle: back to the base capacity until batches flow again
  overflowed_by_ = 0;
  while (num_objects_ > 0) ReturnToSpan(c, slots_[--num_objects_]);
  // The array's pages beyond the first go back too: a class that once flowed between
  // threads may have filled 512 KiB of pointers.
  constexpr int kPerPage = static_cast<int>(kPageSize / sizeof(void*));
  if (touched_ > kPerPage) {
    const size_t end = PageRound(static_cast<size_t>(touched_) * sizeof(void*));
    os::Decommit(reinterpret_cast<char*>(slots_) + kPageSize, end - kPageSize);
    touched_ = kPerPage;
  }
}

CentralFreeList::ClassStats CentralClassStats(int c) {
  CentralFreeList::ClassStats sum = {};
  const int shards = ShardsInUse();
  for (int s = 0; s < shards; ++s) {
    const CentralFreeList::ClassStats one = g_central[s][c].GetClassStats(c);
    sum.spans += one.spans;
    sum.span_bytes += one.span_bytes;
    sum.objects_out += one.objects_out;
    sum.transfer_batches += one.transfer_batches;
    sum.transfer_capacity += one.transfer_capacity;
  }
  return sum;
}

// The shard lock first: no shard comes into use while the lists are held. Only shards in
// use are touched, so a fork does not fault in the lists of shards no thread has had.
void CentralLockAllForFork() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  g_shard_lock.Lock();
  ForEachCentralInUse([](int, CentralFreeList& l) { l.LockForFork(); });
}
void CentralUnlockAllForFork() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  ForEachCentralInUse([](int, CentralFreeList& l) { l.UnlockForFork(); });
  g_shard_lock.Unlock();
}
void CentralResetAllAfterFork() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  ForEachCentralInUse([](int, CentralFreeList& l) { l.ResetAfterFork(); });
  g_shard_lock.ResetAfterFork();
  // The child's one thread is the only one left: the others' shards are free again.
  for (int s = 0; s < kMaxShards; ++s) g_shard_threads[s] = 0;
  if (tl_cache.state == ThreadState::kActive) ++g_shard_threads[tl_cache.shard];
}

}  // namespace hakmem
