#include "core/central_freelist.h"

#include <initializer_list>

#include "core/os.h"
#include "core/page_heap.h"
#include "core/size_class.h"

namespace hakmem {

void SpanQueue::PushFront(Span* s) {
  s->prev = nullptr;
  s->next = head;
  if (head != nullptr) head->prev = s;
  head = s;
  if (tail == nullptr) tail = s;
}

void SpanQueue::Remove(Span* s) {
  if (s->prev != nullptr) s->prev->next = s->next; else head = s->next;
  if (s->next != nullptr) s->next->prev = s->prev; else tail = s->prev;
  s->next = s->prev = nullptr;
}

namespace {

CentralFreeList g_central[kNumClasses];

inline void* NextOf(void* p) { return *static_cast<void**>(p); }
inline void SetNext(void* p, void* n) { *static_cast<void**>(p) = n; }

// The object area of span `i` of `chunk`: span 0 starts after the header page.
inline void InitSpan(ChunkHeader* chunk, int i, size_t object_size) {
  Span* s = &chunk->spans[i];
  char* base = reinterpret_cast<char*>(chunk) + (static_cast<size_t>(i) << chunk->span_shift);
  char* start = i == 0 ? base + kPageSize : base;
  char* limit = base + (size_t{1} << chunk->span_shift);
  const size_t cap = static_cast<size_t>(limit - start) / object_size;
  s->free_list = nullptr;
  s->bump = start;
  s->end = start + cap * object_size;
  s->used = 0;
  s->capacity = static_cast<uint32_t>(cap);
  s->next = s->prev = nullptr;
  s->empty_since_ms = 0;
  s->list = kSpanNone;
}


}  // namespace

CentralFreeList& Central(int size_class) { return g_central[size_class]; }

int CentralFreeList::MaxBatches(int size_class) const {
  // About 512 KiB of whole batches per class: enough to absorb a thread's burst, small
  // enough that idle classes do not pin much before decay flushes them.
  const size_t batch_bytes = ClassSize(size_class) * static_cast<size_t>(BatchSize(size_class));
  size_t n = (512 * 1024) / batch_bytes;
  if (n < 2) n = 2;
  if (n > kMaxBatches) n = kMaxBatches;
  return static_cast<int>(n);
}

void CentralFreeList::ReturnToSpan(int size_class, void* obj) {
  ChunkHeader* chunk = ChunkOf(obj);
  const size_t index = (reinterpret_cast<uintptr_t>(obj) - reinterpret_cast<uintptr_t>(chunk)) >>
                       chunk->span_shift;
  Span* s = &chunk->spans[index];
  HAK_ASSERT(s->used > 0);
  SetNext(obj, s->free_list);
  s->free_list = obj;
  const uint8_t was = s->list;
  if (--s->used == 0) {
    // All objects are back: forget the free list and carve afresh next time, so a span
    // decommitted in the meantime is never read for stale links.
    if (was == kSpanPartial) partial_.Remove(s);
    if (was == kSpanFull) --full_spans_;
    HAK_ASSERT(was == kSpanPartial || was == kSpanFull);
    const char* base = reinterpret_cast<char*>(chunk) + (index << chunk->span_shift);
    s->bump = const_cast<char*>(index == 0 ? base + kPageSize : base);
    s->free_list = nullptr;
    s->empty_since_ms = static_cast<uint32_t>(os::NowNs() / 1000000u);
    s->list = kSpanEmpty;
    empty_.PushFront(s);
  } else if (was == kSpanFull) {
    --full_spans_;
    s->list = kSpanPartial;
    partial_.PushFront(s);
  }
  (void)size_class;
}

Span* CentralFreeList::NextSpan(int size_class) {
  if (!partial_.empty()) return partial_.head;
  // The most recently emptied span first: its pages are most likely still warm.
  SpanQueue* from = !empty_.empty() ? &empty_ : !released_.empty() ? &released_ : nullptr;
  if (from != nullptr) {
    Span* s = from->head;
    from->Remove(s);
    if (from == &released_) --decommitted_spans_;
    s->list = kSpanPartial;
    partial_.PushFront(s);
    return s;
  }
  if (current_chunk_ == nullptr || current_chunk_->spans_started == current_chunk_->num_spans) {
    current_chunk_ = AllocateChunk(size_class);
    if (current_chunk_ == nullptr) return nullptr;
  }
  const int i = static_cast<int>(current_chunk_->spans_started++);
  InitSpan(current_chunk_, i, ClassSize(size_class));
  Span* s = &current_chunk_->spans[i];
  s->list = kSpanPartial;
  partial_.PushFront(s);
  return s;
}

int CentralFreeList::FillFromSpans(int size_class, void** head, int n) {
  const size_t size = ClassSize(size_class);
  void* list = nullptr;
  int got = 0;
  while (got < n) {
    Span* s = NextSpan(size_class);
    if (s == nullptr) break;
    while (got < n && s->free_list != nullptr) {
      void* obj = s->free_list;
      s->free_list = NextOf(obj);
      SetNext(obj, list);
      list = obj;
      ++got;
      ++s->used;
    }
    while (got < n && s->bump < s->end) {
      void* obj = s->bump;
      s->bump += size;
      SetNext(obj, list);
      list = obj;
      ++got;
      ++s->used;
    }
    if (s->free_list == nullptr && s->bump == s->end) {
      partial_.Remove(s);
      s->list = kSpanFull;
      ++full_spans_;
    }
  }
  *head = list;
  return got;
}

int CentralFreeList::RemoveRange(int size_class, void** head, int n) {
  SpinLockHolder h(&lock_);
  last_remove_ns_ = 0;  // marks the class as in use; Release() stamps the time lazily
  if (n == BatchSize(size_class) && num_batches_ > 0) {
    *head = batches_[--num_batches_];
    return n;
  }
  return FillFromSpans(size_class, head, n);
}

void CentralFreeList::InsertRange(int size_class, void* head, int n) {
  SpinLockHolder h(&lock_);
  {
    if (n == BatchSize(size_class) && num_batches_ < MaxBatches(size_class)) {
      // Terminate the batch so it can be handed out as is.
      void* last = head;
      for (int i = 1; i < n; ++i) last = NextOf(last);
      SetNext(last, nullptr);
      batches_[num_batches_++] = head;
      return;
    }
    void* obj = head;
    for (int i = 0; i < n; ++i) {
      void* next = NextOf(obj);
      ReturnToSpan(size_class, obj);
      obj = next;
    }
  }
}

uint64_t CentralFreeList::Release(int size_class, uint64_t now_ns, uint64_t decay_ns) {
  SpinLockHolder h(&lock_);
  // Batches: the first pass after a RemoveRange stamps the time; a later pass that finds
  // the stamp older than the decay period sends the batches back to their spans.
  if (last_remove_ns_ == 0) {
    last_remove_ns_ = now_ns;
  } else if (now_ns >= last_remove_ns_ && now_ns - last_remove_ns_ >= decay_ns) {
    while (num_batches_ > 0) {
      void* obj = batches_[--num_batches_];
      while (obj != nullptr) {
        void* next = NextOf(obj);
        ReturnToSpan(size_class, obj);
        obj = next;
      }
    }
  }
  uint64_t released = 0;
  const uint32_t now_ms = static_cast<uint32_t>(now_ns / 1000000u);
  const uint64_t decay_ms = decay_ns / 1000000u;
  while (Span* s = empty_.tail) {
    // Ages are differences mod 2^32 ms (49 days); one over 2^31 means "emptied after
    // this pass began". Newer than the decay period: so are all before it in the list.
    const uint32_t age_ms = now_ms - s->empty_since_ms;
    if (age_ms >= (1u << 31) || age_ms < decay_ms) break;
    empty_.Remove(s);
    ChunkHeader* chunk = ChunkOf(s);
    const size_t index = static_cast<size_t>(s - chunk->spans);
    char* base = reinterpret_cast<char*>(chunk) + (index << chunk->span_shift);
    char* start = index == 0 ? base + kPageSize : base;
    const size_t len = (size_t{1} << chunk->span_shift) - static_cast<size_t>(start - base);
    os::Decommit(start, len);
    s->list = kSpanReleased;
    released_.PushFront(s);
    ++decommitted_spans_;
    released += len;
  }
  return released;
}

CentralFreeList::Stats CentralFreeList::GetStats(int size_class) {
  SpinLockHolder h(&lock_);
  Stats st{};
  st.batches_cached = static_cast<uint64_t>(num_batches_);
  const size_t size = ClassSize(size_class);
  for (Span* s = partial_.head; s != nullptr; s = s->next) {
    ++st.spans_partial;
    st.objects_in_spans_free += static_cast<uint64_t>(s->capacity - s->used);
  }
  for (const SpanQueue* q : {&empty_, &released_}) {
    for (Span* s = q->head; s != nullptr; s = s->next) {
      ++st.spans_empty;
      st.objects_in_spans_free += s->capacity;
    }
  }
  (void)size;
  st.spans_full = full_spans_;
  st.spans_decommitted = decommitted_spans_;
  return st;
}

void CentralLockAllForFork() {
  for (int c = 1; c < kNumClasses; ++c) g_central[c].LockForFork();
}
void CentralUnlockAllForFork() {
  for (int c = 1; c < kNumClasses; ++c) g_central[c].UnlockForFork();
}
void CentralResetAllAfterFork() {
  for (int c = 1; c < kNumClasses; ++c) g_central[c].ResetAfterFork();
}

}  // namespace hakmem
