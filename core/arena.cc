#include "core/arena.h"

#include "core/lock.h"
#include "core/os.h"

namespace hakmem {
namespace {

constexpr size_t kBlock = 1 << 20;  // mapped a MiB at a time; untouched pages cost nothing

SpinLock g_lock;
char* g_next ABSL_GUARDED_BY(g_lock) = nullptr;
char* g_end ABSL_GUARDED_BY(g_lock) = nullptr;

}  // namespace

void* ArenaAllocate(size_t bytes) {
  bytes = (bytes + 63) & ~size_t{63};
  if (bytes >= kBlock / 4) return os::Map(bytes);  // big tables get their own mapping
  SpinLockHolder h(&g_lock);
  if (g_next == nullptr || static_cast<size_t>(g_end - g_next) < bytes) {
    char* m = static_cast<char*>(os::Map(kBlock));
    if (m == nullptr) return nullptr;
    g_next = m;
    g_end = m + kBlock;
  }
  void* p = g_next;
  g_next += bytes;
  return p;
}

void ArenaLockForFork() ABSL_NO_THREAD_SAFETY_ANALYSIS { g_lock.Lock(); }
void ArenaUnlockForFork() ABSL_NO_THREAD_SAFETY_ANALYSIS { g_lock.Unlock(); }
void ArenaResetAfterFork() { g_lock.ResetAfterFork(); }

}  // namespace hakmem
