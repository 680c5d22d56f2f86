#include "core/thread_cache.h"

#include <errno.h>

#include "core/central_freelist.h"
#include "core/decay.h"
#include "core/init.h"
#include "core/size_class.h"

namespace hakmem {

__thread ThreadCache tl_cache __attribute__((tls_model("initial-exec")));

namespace {

// Twice the batch: after an overflow sends one batch back, a batch's worth stays, so a
// thread that frees and allocates around the limit does not ping-pong with the center.
inline uint32_t MaxLength(int c) { return 2u * static_cast<uint32_t>(BatchSize(c)); }

void SetUpThread() {
  EnsureInitialized();
  ThreadCache& tc = tl_cache;
  for (int c = 1; c < kNumClasses; ++c) tc.lists[c].max_length = MaxLength(c);
  tc.state = ThreadState::kActive;
  if (!tc.exit_hook_registered) {
    // Registering may allocate (glibc grows its key table with calloc); the cache is
    // fully usable by now, and the flag stops the nested call from registering again.
    tc.exit_hook_registered = true;
    RegisterThreadExitHook();
  }
}

// Sends the first `n` objects of list `c` to the central list.
void FlushObjects(int c, uint32_t n) {
  FreeList& l = tl_cache.lists[c];
  const int batch = BatchSize(c);
  while (n > 0) {
    const int k = n < static_cast<uint32_t>(batch) ? static_cast<int>(n) : batch;
    void* head = l.head;
    void* last = head;
    for (int i = 1; i < k; ++i) last = *static_cast<void**>(last);
    l.head = *static_cast<void**>(last);
    l.length -= static_cast<uint32_t>(k);
    n -= static_cast<uint32_t>(k);
    Central(c).InsertRange(c, head, k);
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
      if (Central(c).RemoveRange(c, &p, 1) == 1) return p;
      errno = ENOMEM;
      return nullptr;
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
  void* head = nullptr;
  const int n = Central(c).RemoveRange(c, &head, BatchSize(c));
  if (n == 0) {
    errno = ENOMEM;
    return nullptr;
  }
  l.head = *static_cast<void**>(head);
  l.length = static_cast<uint32_t>(n - 1);
  return head;
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
  FlushObjects(c, static_cast<uint32_t>(BatchSize(c)));
}

void ThreadCacheExit() {
  ThreadCache& tc = tl_cache;
  tc.state = ThreadState::kDead;
  for (int c = 1; c < kNumClasses; ++c) {
    tc.lists[c].max_length = 0;
    FlushObjects(c, tc.lists[c].length);
  }
}

}  // namespace hakmem
