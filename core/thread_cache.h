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
#include "core/check.h"
#include "core/size_class.h"
#include "core/types.h"

namespace hakmem {

enum class ThreadState : uint8_t { kNew = 0, kActive = 1, kDead = 2 };

struct ThreadCache {
  FreeList lists[kNumClasses];
  // The sampler's per-class state beyond the list's 15-bit countdown (sampler.cc):
  // allocations still to skip once the countdown runs out, plus one; 0 while the class's
  // sampler is not armed. Touched only on slow paths.
  int64_t sample_rest[kNumClasses];
  uint64_t rng;          // sampler's random state; 0 until set up
  uint32_t thread_tag;   // nonzero, unique among threads alive at once; 0 until assigned
  ThreadState state;
  bool exit_hook_registered;
  uint8_t shard;         // the central shard it takes objects from (set up with the thread)
};

// The asm name lets the fast path below name the variable in its TLS relocation.
extern __thread ThreadCache tl_cache __asm__("hakmem_tl_cache")
    __attribute__((tls_model("initial-exec")));

// Fast-path access to a thread's lists, addressed from the thread pointer.
//
// Why asm: in a shared library the compiler computes a TLS variable's address as
// "thread pointer (a load of %fs:0) + offset from the GOT" and then dereferences it, so
// every list access pays an extra load and add. Addressing %fs:offset directly makes
// each access one instruction; malloc and free each lose an instruction and a load
// (callgrind: 2 fewer instructions per malloc/free pair on random mixed). The C++ fallback
// is the same logic on the ordinary TLS variable.
namespace tls {

#if defined(__x86_64__)
static_assert(offsetof(FreeList, head) == 0 && offsetof(FreeList, length) == 8 &&
                  offsetof(FreeList, sample_countdown) == 10 &&
                  offsetof(FreeList, max_length) == 12 && sizeof(FreeList) == 16,
              "the asm below hard-codes FreeList's layout");
static_assert(offsetof(ThreadCache, lists) == 0, "lists come first in the thread cache");

// Offset of list `c` from the thread pointer. The GOT load is the same for every call,
// so the compiler may share it; an executable's linker turns it into a constant.
HAK_INLINE uintptr_t ListOffset(int c) {
  uintptr_t base;
  __asm__("movq hakmem_tl_cache@gottpoff(%%rip), %0" : "=r"(base));
  return base + static_cast<uintptr_t>(c) * sizeof(FreeList);
}
HAK_INLINE void* Head(uintptr_t l) {
  void* v;
  __asm__ volatile("movq %%fs:(%1), %0" : "=r"(v) : "r"(l) : "memory");
  return v;
}
HAK_INLINE void SetHead(uintptr_t l, void* v) {
  __asm__ volatile("movq %0, %%fs:(%1)" : : "r"(v), "r"(l) : "memory");
}
// Takes one from the length and one from the sample countdown (one subtract on the word
// they share); returns whether the countdown went negative.
HAK_INLINE bool CountPop(uintptr_t l) {
  bool negative;
  __asm__ volatile("subl $0x10001, %%fs:8(%1)" : "=@ccs"(negative) : "r"(l) : "memory");
  return negative;
}
// Puts back the object a counted pop took, leaving the countdown negative for the slow
// path to see.
HAK_INLINE void UndoPop(uintptr_t l, void* p) {
  __asm__ volatile("movq %0, %%fs:(%1)\n\taddl $1, %%fs:8(%1)" : : "r"(p), "r"(l) : "memory");
}
// Adds one to the length; returns whether it is still within max_length.
HAK_INLINE bool IncrementLengthWithinMax(uintptr_t l) {
  uint32_t len;
  bool above;
  __asm__ volatile(
      "addl $1, %%fs:8(%2)\n\t"  // the low half: length never carries into the countdown
      "movzwl %%fs:8(%2), %0\n\t"
      "cmpl %%fs:12(%2), %0"
      : "=&r"(len), "=@cca"(above)
      : "r"(l)
      : "memory");
  return !above;
}
#else
HAK_INLINE uintptr_t ListOffset(int c) { return reinterpret_cast<uintptr_t>(&tl_cache.lists[c]); }
HAK_INLINE FreeList& At(uintptr_t l) { return *reinterpret_cast<FreeList*>(l); }
HAK_INLINE void* Head(uintptr_t l) { return At(l).head; }
HAK_INLINE void SetHead(uintptr_t l, void* v) { At(l).head = v; }
HAK_INLINE bool CountPop(uintptr_t l) {
  --At(l).length;
  return --At(l).sample_countdown < 0;
}
HAK_INLINE void UndoPop(uintptr_t l, void* p) {
  At(l).head = p;
  ++At(l).length;
}
HAK_INLINE bool IncrementLengthWithinMax(uintptr_t l) { return ++At(l).length <= At(l).max_length; }
#endif

}  // namespace tls

void* AllocateSmallSlow(int size_class);
void DeallocateSmallSlow(int size_class);

// The fast path's pop, counted by the sampler: nullptr when the list is empty or the
// class's sample countdown ran out (then the list is as it was and the countdown is
// negative); the caller's slow path (PoolAllocateSlow) serves both.
HAK_INLINE void* TryPop(int size_class) {
  const uintptr_t l = tls::ListOffset(size_class);
  void* p = tls::Head(l);
  if (HAK_LIKELY(p != nullptr)) {
    tls::SetHead(l, *static_cast<void**>(p));
    if (HAK_UNLIKELY(tls::CountPop(l))) {
      tls::UndoPop(l, p);
      return nullptr;
    }
  }
  return CheckHandOut(p);
}

// A pop or refill the sampler has already counted (slow paths only).
HAK_INLINE void* AllocateSmall(int size_class) {
  FreeList& l = tl_cache.lists[size_class];
  void* p = l.head;
  if (HAK_LIKELY(p != nullptr)) {
    l.head = *static_cast<void**>(p);
    --l.length;
    return CheckHandOut(p);
  }
  return CheckHandOut(AllocateSmallSlow(size_class));
}

HAK_INLINE void DeallocateSmall(void* p, int size_class) {
  CheckSmallFree(p, ClassSize(size_class));
  const uintptr_t l = tls::ListOffset(size_class);
  *static_cast<void**>(p) = tls::Head(l);
  tls::SetHead(l, p);
  if (HAK_LIKELY(tls::IncrementLengthWithinMax(l))) return;
  DeallocateSmallSlow(size_class);
}

// Moves every cached object back to the central lists and stops caching for this thread.
// Runs from the thread's exit hook.
void ThreadCacheExit();

// The calling thread's tag (assigned on first use).
uint32_t CurrentThreadTag();

}  // namespace hakmem

#endif  // HAKMEM_CORE_THREAD_CACHE_H_
