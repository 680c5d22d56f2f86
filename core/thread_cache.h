// The per-thread cache: one free list per size class in initial-exec TLS. This is the
// whole small-object fast path: allocation pops a list, free pushes one. No header, lock,
// hash, syscall or learner call; a miss leaves through a NOINLINE slow path that moves a
// batch to or from the central list.
//
// A thread's lists start zeroed (head nullptr, max_length 0), so the first allocation and
// the first free of every thread go to the slow path, which sets the thread up: the fast
// path never tests an "initialized" flag. After the thread's exit hook has run, the
// limits are zero again and every call goes to the slow path, which then bypasses the
// cache (destructors of other libraries may still allocate).
//
// A block freed by another thread goes into that thread's cache: there is no owner to
// notify, so a cross-thread free takes no lock either.
#ifndef HAKMEM_CORE_THREAD_CACHE_H_
#define HAKMEM_CORE_THREAD_CACHE_H_

#include <stddef.h>
#include <stdint.h>

#include "core/base.h"
#include "core/types.h"

namespace hakmem {

enum class ThreadState : uint8_t { kNew = 0, kActive = 1, kDead = 2 };

struct ThreadCache {
  // First, so that a list's address is the thread pointer plus class * 16.
  FreeList lists[kNumClasses];
  // Bytes this thread may still allocate before the next sample; the fast path subtracts
  // each request and leaves for the sampler when it goes negative. Starts at 0, so a
  // thread's first allocation sets its sampler up.
  int64_t sample_left;
  uint64_t rng;          // sampler's random state; 0 until set up
  uint32_t thread_tag;   // nonzero, unique among threads alive at once; 0 until assigned
  ThreadState state;
  bool exit_hook_registered;
};

extern __thread ThreadCache tl_cache __attribute__((tls_model("initial-exec")));

void* AllocateSmallSlow(int size_class);
void DeallocateSmallSlow(int size_class);

// The pop alone: nullptr when the list is empty (the caller then takes its slow path).
HAK_INLINE void* TryPop(int size_class) {
  FreeList& l = tl_cache.lists[size_class];
  void* p = l.head;
  if (HAK_LIKELY(p != nullptr)) {
    l.head = *static_cast<void**>(p);
    --l.length;
  }
  return p;
}

HAK_INLINE void* AllocateSmall(int size_class) {
  void* p = TryPop(size_class);
  if (HAK_LIKELY(p != nullptr)) return p;
  return AllocateSmallSlow(size_class);
}

HAK_INLINE void DeallocateSmall(void* p, int size_class) {
  FreeList& l = tl_cache.lists[size_class];
  *static_cast<void**>(p) = l.head;
  l.head = p;
  if (HAK_LIKELY(++l.length <= l.max_length)) return;
  DeallocateSmallSlow(size_class);
}

// Moves every cached object back to the central lists and stops caching for this thread.
// Runs from the thread's exit hook.
void ThreadCacheExit();

// The calling thread's tag (assigned on first use).
uint32_t CurrentThreadTag();

}  // namespace hakmem

#endif  // HAKMEM_CORE_THREAD_CACHE_H_
