// Process-wide set-up, done once on the first slow path: options, fork handlers, the
// thread-exit key, and the HAKMEM_VERBOSE report at exit. Nothing here runs on a fast path.
#ifndef HAKMEM_CORE_INIT_H_
#define HAKMEM_CORE_INIT_H_

#include "core/base.h"

namespace hakmem {

void InitializeSlow();
extern bool g_initialized;  // set once InitializeSlow has finished

HAK_INLINE void EnsureInitialized() {
  if (HAK_UNLIKELY(!__atomic_load_n(&g_initialized, __ATOMIC_ACQUIRE))) InitializeSlow();
}

// Arranges for ThreadCacheExit() to run when the calling thread exits.
void RegisterThreadExitHook();

}  // namespace hakmem

#endif  // HAKMEM_CORE_INIT_H_
