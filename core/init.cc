#include "core/init.h"

#include <pthread.h>
#include <unistd.h>

#include <atomic>

#include "core/arena.h"
#include "core/central_freelist.h"
#include "core/cycleclock.h"
#include "core/decay.h"
#include "core/format.h"
#include "core/large.h"
#include "core/learner_hooks.h"
#include "core/options.h"
#include "core/os.h"
#include "core/page_heap.h"
#include "core/route_table.h"
#include "core/stats.h"
#include "core/thread_cache.h"
#include "core/version.h"

namespace hakmem {

bool g_initialized = false;

namespace {

std::atomic<int> g_init_state{0};  // 0: not started, 1: running, 2: done
pthread_key_t g_exit_key;
bool g_exit_key_ok = false;

// Lock order for fork: every central list, then the page heap, the
// arena (the order in which the slow paths nest them).
void ForkPrepare() {
  CentralLockAllForFork();
  PageHeapLockForFork();
  ArenaLockForFork();
}
void ForkParent() {
  ArenaUnlockForFork();
  PageHeapUnlockForFork();
  CentralUnlockAllForFork();
}
void ForkChild() {
  // The child has one thread; locks held by the others at fork time will never be
  // released by them, and the prepare handler holds them all, so reset every one.
  ArenaResetAfterFork();
  PageHeapResetAfterFork();
  CentralResetAllAfterFork();
  DecayResetAfterFork();
  RouteTableResetAfterFork();
}

void OnThreadExit(void*) { ThreadCacheExit(); }

void PrintLine(const char* s, size_t n) { os::WriteStderr(s, n); }

}  // namespace

void InitializeSlow() {
  int expected = 0;
  if (!g_init_state.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) {
    // Another thread is initializing: wait. (The same thread cannot get here twice: the
    // steps below do not allocate before g_initialized is set.)
    while (g_init_state.load(std::memory_order_acquire) != 2) os::Yield();
    return;
  }
  LoadOptions();
  LargeInit();
  cycleclock::Init();
  PageHeapInit();
  __atomic_store_n(&g_initialized, true, __ATOMIC_RELEASE);
  // From here on, allocation works; the calls below may allocate.
  pthread_atfork(ForkPrepare, ForkParent, ForkChild);
  g_exit_key_ok = pthread_key_create(&g_exit_key, OnThreadExit) == 0;
  g_init_state.store(2, std::memory_order_release);
  if (&LearnerInit != nullptr) LearnerInit();  // may load a frozen table and publish it
  if (GetOption(Option::kVerbose) >= 1) {
    char buf[160];
    Formatter f(buf, sizeof(buf));
    f.Str("hakmem: start pid=").Int(os::Pid()).Str(" version=").Str(kVersion).Str("\n");
    PrintLine(buf, f.size());
    if (GetOption(Option::kVerbose) >= 2) PrintOptions();
  }
}

void RegisterThreadExitHook() {
  if (g_exit_key_ok) pthread_setspecific(g_exit_key, reinterpret_cast<void*>(1));
}

namespace {

// Runs at exit (and at dlclose of a directly linked program's copy). Allocation keeps
// working afterwards: nothing is torn down.
__attribute__((destructor)) void ExitReport() {
  if (!g_initialized || GetOption(Option::kVerbose) < 1) return;
  const Stats s = GetStats();
  char buf[512];
  Formatter f(buf, sizeof(buf));
  f.Str("hakmem: exit pid=").Int(os::Pid());
  f.Str(" bytes_from_os=").Uint(s.bytes_from_os);
  f.Str(" heap_span_bytes=").Uint(s.heap_span_bytes);
  f.Str(" large_allocs=").Uint(s.large_allocs);
  f.Str(" bigcache=").Uint(s.mapped_by_bigcache).Str(" mmap_blocks=").Uint(s.mapped_by_mmap);
  f.Str(" sampled_blocks=").Uint(s.sampled_blocks);
  f.Str(" bigcache_hits=").Uint(s.bigcache_hits).Str(" gathers=").Uint(s.bigcache_gathers);
  f.Str(" fallbacks=").Uint(s.strategy_fallbacks);
  f.Str(" large_peak_bytes=").Uint(s.large_peak_live_bytes);
  f.Str(" released_bytes=").Uint(s.released_bytes);
  f.Str(" huge_pages=").Int(LargeHugePagesState());
  f.Str(" mmap=").Uint(s.mmap_calls).Str(" munmap=").Uint(s.munmap_calls);
  f.Str(" madvise=").Uint(s.madvise_calls).Str(" mremap=").Uint(s.mremap_calls);
  f.Str("\n");
  PrintLine(buf, f.size());
}

}  // namespace

}  // namespace hakmem
