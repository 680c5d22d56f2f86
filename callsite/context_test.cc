#include "callsite/context.h"

#include <pthread.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "callsite/unwind.h"
#include "core/profile_hooks.h"
#include "gtest/gtest.h"

namespace hakmem {
namespace callsite {
namespace {

// Stands in for malloc: what the allocator does with the address its caller returns to.
__attribute__((noinline)) uintptr_t FakeMalloc() {
  tl_call_frame = reinterpret_cast<uintptr_t>(__builtin_dwarf_cfa());  // as HAK_CALLER does
  const uintptr_t ra = reinterpret_cast<uintptr_t>(__builtin_return_address(0));
  asm volatile("" ::: "memory");
  return ContextKeyForCall(ra);
}

// A wrapper, like zmalloc: the allocation call's return address is the same for every
// caller. Records the address it returns to, to check the unwinder against.
uintptr_t g_wrapper_returns_to;
__attribute__((noinline)) uintptr_t Wrapper() {
  g_wrapper_returns_to = reinterpret_cast<uintptr_t>(__builtin_return_address(0));
  const uintptr_t key = FakeMalloc();
  asm volatile("" ::: "memory");
  return key;
}

// Each counts its own calls: identical bodies would let an optimized build fold the two
// into one function (identical code folding), and then they would be one caller.
volatile int g_calls_a, g_calls_b;
__attribute__((noinline)) uintptr_t CallerA() {
  const uintptr_t k = Wrapper();
  g_calls_a = g_calls_a + 1;
  return k;
}
__attribute__((noinline)) uintptr_t CallerB() {
  const uintptr_t k = Wrapper();
  g_calls_b = g_calls_b + 1;
  return k;
}

// Not a wrapper: one place calls FakeMalloc from here, and one place calls this.
__attribute__((noinline)) uintptr_t Leaf() {
  const uintptr_t k = FakeMalloc();
  asm volatile("" ::: "memory");
  return k;
}
__attribute__((noinline)) uintptr_t CallLeaf() {
  const uintptr_t k = Leaf();
  asm volatile("" ::: "memory");
  return k;
}

uintptr_t g_capture_ra;
int g_capture_n;
uintptr_t g_capture_frames[8];
uintptr_t g_capture_slot_values[8];
__attribute__((noinline)) void CaptureHere() {
  g_capture_ra = reinterpret_cast<uintptr_t>(__builtin_return_address(0));
  uintptr_t slots[8];
  g_capture_n = CaptureContext(g_capture_ra, g_capture_frames, 8, slots);
  // Read while every frame is live.
  for (int i = 1; i < g_capture_n; ++i) {
    g_capture_slot_values[i] = *reinterpret_cast<const uintptr_t*>(slots[i]);
  }
  asm volatile("" ::: "memory");
}
uintptr_t g_inner_returns_to;
__attribute__((noinline)) void Inner() {
  g_inner_returns_to = reinterpret_cast<uintptr_t>(__builtin_return_address(0));
  CaptureHere();
  asm volatile("" ::: "memory");
}

TEST(Unwind, FramesStartAtTheCallAndFollowTheCallers) {
  Inner();
  ASSERT_GE(g_capture_n, 3);
  EXPECT_EQ(g_capture_frames[0], g_capture_ra);        // the "allocation call" in Inner
  EXPECT_EQ(g_capture_frames[1], g_inner_returns_to);  // Inner's caller, this test
  // Where each frame keeps its return address: the profiler re-reads them to recognize a
  // context without unwinding.
  for (int i = 1; i < g_capture_n; ++i) EXPECT_EQ(g_capture_slot_values[i], g_capture_frames[i]) << i;
}

TEST(Unwind, AReturnAddressNotOnTheStackGivesItAlone) {
  uintptr_t frames[8];
  const uintptr_t not_on_stack = reinterpret_cast<uintptr_t>(&CaptureHere) + 1;
  ASSERT_EQ(CaptureContext(not_on_stack, frames, 8), 1);
  EXPECT_EQ(frames[0], not_on_stack);
}

TEST(ContextKey, DependsOnEveryFrameByModuleIdentityAndOffset) {
  const FrameKey a[2] = {{"abcd", "/lib/x.so", 0x10}, {"", "/usr/bin/p", 0x20}};
  const FrameKey same_build_id_moved[2] = {{"abcd", "/opt/x.so", 0x10}, {"", "/usr/bin/p", 0x20}};
  const FrameKey other_offset[2] = {{"abcd", "/lib/x.so", 0x10}, {"", "/usr/bin/p", 0x21}};
  const FrameKey other_path[2] = {{"abcd", "/lib/x.so", 0x10}, {"", "/usr/bin/q", 0x20}};
  const uintptr_t k = ContextKeyOf(a, 2);
  EXPECT_TRUE(IsContextKey(k));
  EXPECT_EQ(k, ContextKeyOf(same_build_id_moved, 2));  // a build-id names the module
  EXPECT_NE(k, ContextKeyOf(other_offset, 2));
  EXPECT_NE(k, ContextKeyOf(other_path, 2));
  EXPECT_NE(k, ContextKeyOf(a, 1));  // a prefix is another context
  EXPECT_NE(k, kOverflowContextKey);
}

TEST(ContextKey, ExplicitAndContextKeysPassUnchanged) {
  const uintptr_t named = uintptr_t{1} << 63 | 12345;
  EXPECT_EQ(ContextKeyForCall(named), named);
  const uintptr_t ctx = kContextBit | 777;
  EXPECT_EQ(ContextKeyForCall(ctx), ctx);
}

TEST(ContextKey, CallersOfAWrapperAreApartAndStable) {
  // Every call from one statement: the test's own frames are part of the context too.
  // No branch on the first iteration and no unrolling: with either, an optimized build
  // has two call instructions for each caller, so two contexts (`-c opt` saw that).
  constexpr int kCalls = 100;
  uintptr_t keys_a[kCalls], keys_b[kCalls];
#pragma GCC unroll 1
  for (int i = 0; i < kCalls; ++i) {
    keys_a[i] = CallerA();
    keys_b[i] = CallerB();
  }
  const uintptr_t a1 = keys_a[0], b1 = keys_b[0];
  for (int i = 0; i < kCalls; ++i) {
    ASSERT_EQ(keys_a[i], a1) << i;
    ASSERT_EQ(keys_b[i], b1) << i;
  }
  EXPECT_NE(a1, b1);
  const Context* a = FindContext(a1);
  const Context* b = FindContext(b1);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(a->depth, 4);  // HAKMEM_CONTEXT_DEPTH's default
  EXPECT_EQ(a->address[0], b->address[0]);  // the same allocation call...
  EXPECT_EQ(b->address[1], g_wrapper_returns_to);  // ...reached from CallerB last
  EXPECT_NE(a->address[1], b->address[1]);
  // The two share the allocation call in Wrapper: that frame is the wrapper, the next
  // names the site.
  EXPECT_EQ(WrapperFrames(*a), 1);
  EXPECT_EQ(WrapperFrames(*b), 1);
}

TEST(ContextKey, ASiteWithOneContextStopsUnwinding) {
  const uint64_t before = ContextUnwinds();
  constexpr int kCalls = 10000;
  static uintptr_t keys[kCalls];
#pragma GCC unroll 1
  for (int i = 0; i < kCalls; ++i) keys[i] = CallLeaf();  // one call instruction (above)
  const uintptr_t k = keys[0];
  for (int i = 0; i < kCalls; ++i) ASSERT_EQ(keys[i], k) << i;
  const uint64_t unwinds = ContextUnwinds() - before;
  // A few to observe it, then re-checks at doubling gaps from 64: well under 1%.
  EXPECT_LT(unwinds, 20u);
  const Context* c = FindContext(k);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(WrapperFrames(*c), 0);
}

// A wrapper of its own (root states are global), and two callers with identical frames:
// the second comes at the same stack depth as the first.
__attribute__((noinline)) uintptr_t Wrapper2() {
  const uintptr_t key = FakeMalloc();
  asm volatile("" ::: "memory");
  return key;
}
__attribute__((noinline)) uintptr_t SiblingA() {
  const uintptr_t k = Wrapper2();
  asm volatile("" ::: "memory");
  return k;
}
__attribute__((noinline)) uintptr_t SiblingB() {
  const uintptr_t k = Wrapper2();
  asm volatile("" ::: "memory");
  return k;
}

// Two levels, like zmalloc over ztrymalloc: siblings differ only in the third frame.
__attribute__((noinline)) uintptr_t Wrapper3() {
  const uintptr_t key = FakeMalloc();
  asm volatile("" ::: "memory");
  return key;
}
__attribute__((noinline)) uintptr_t Outer2() {
  const uintptr_t k = Wrapper3();
  asm volatile("" ::: "memory");
  return k;
}
__attribute__((noinline)) uintptr_t DeepA() {
  const uintptr_t k = Outer2();
  asm volatile("" ::: "memory");
  return k;
}
__attribute__((noinline)) uintptr_t DeepB() {
  const uintptr_t k = Outer2();
  asm volatile("" ::: "memory");
  return k;
}

// `usual` long enough to be cached as the one context of its allocation call, then
// `newcomer` once, then `usual` again, all from one call statement (the test's own frame
// is part of the context): the newcomer must get its own key on its first request, not
// at the next re-check.
void ExpectNewcomerSeenAtOnce(uintptr_t (*usual)(), uintptr_t (*newcomer)()) {
  uintptr_t a = 0, b = 0;
  for (int i = 0; i < 302; ++i) {
    uintptr_t (*const caller)() = i == 300 ? newcomer : usual;
    const uintptr_t k = caller();
    if (i == 0) a = k;
    if (i == 300) {
      b = k;
    } else {
      ASSERT_EQ(k, a) << i;
    }
  }
  EXPECT_NE(b, a);
}

TEST(ContextKey, ANewCallerTwoLevelsUpIsSeenAtOnce) { ExpectNewcomerSeenAtOnce(DeepA, DeepB); }

TEST(ContextKey, ANewCallerAtTheSameDepthIsSeenAtOnce) {
  ExpectNewcomerSeenAtOnce(SiblingA, SiblingB);
}

TEST(ContextKey, WorksInAForkedChild) {
  uintptr_t a = 0, b = 0;
  for (int i = 0; i < 2; ++i) {  // one statement: the same contexts in parent and child
    const pid_t pid = i == 0 ? 0 : fork();
    ASSERT_GE(pid, 0);
    const uintptr_t ka = CallerA();
    const uintptr_t kb = CallerB();
    if (i == 0) {
      a = ka;
      b = kb;
      continue;
    }
    if (pid == 0) _exit(ka == a && kb == b && FindContext(ka) != nullptr ? 0 : 1);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }
}

// A thread's first act, and its last (a TLS destructor runs while the thread is torn
// down): the unwinder must reach the allocation call in both.
pthread_key_t g_key;
uintptr_t g_first_key, g_last_key;
void AtThreadExit(void*) { g_last_key = CallerA(); }
void* ThreadBody(void*) {
  g_first_key = CallerB();
  pthread_setspecific(g_key, &g_key);
  return nullptr;
}

// TSan's runtime starts every thread in a function of its own (__tsan_thread_start_func)
// between libc's start_thread and the thread's: one more frame in a thread's first
// context.
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define HAKMEM_TSAN_THREAD_START 1
#endif
#endif
#ifdef HAKMEM_TSAN_THREAD_START
constexpr int kThreadStartFrames = 1;
#else
constexpr int kThreadStartFrames = 0;
#endif

TEST(ContextKey, WorksInThreadsStartingAndExiting) {
  ASSERT_EQ(pthread_key_create(&g_key, AtThreadExit), 0);
  pthread_t t;
  ASSERT_EQ(pthread_create(&t, nullptr, ThreadBody, nullptr), 0);
  ASSERT_EQ(pthread_join(t, nullptr), 0);
  const Context* first = FindContext(g_first_key);
  const Context* last = FindContext(g_last_key);
  ASSERT_NE(first, nullptr);
  ASSERT_NE(last, nullptr);
  // The wrapper, CallerB, ThreadBody; then libc's start_thread, which ends a context.
  EXPECT_EQ(first->depth, 3 + kThreadStartFrames);
  EXPECT_EQ(last->depth, 3);  // the wrapper, CallerA, AtThreadExit; then libc
  EXPECT_NE(g_first_key, g_last_key);
}

}  // namespace
}  // namespace callsite
}  // namespace hakmem
