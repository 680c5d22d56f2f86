// A spin lock that yields: the allocator's locks guard short, rare critical sections
// (central lists once per batch, the chunk supply once per chunk), where a futex-backed
// mutex costs more than it saves. Never allocates; constant-initialized.
#ifndef HAKMEM_CORE_LOCK_H_
#define HAKMEM_CORE_LOCK_H_

#include <atomic>

#include "absl/base/thread_annotations.h"
#include "core/os.h"

namespace hakmem {

class ABSL_LOCKABLE SpinLock {
 public:
  constexpr SpinLock() = default;
  SpinLock(const SpinLock&) = delete;
  SpinLock& operator=(const SpinLock&) = delete;

  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() {
    if (!locked_.exchange(true, std::memory_order_acquire)) return;
    LockSlow();
  }
  void Unlock() ABSL_UNLOCK_FUNCTION() { locked_.store(false, std::memory_order_release); }
  // After fork() the child has one thread: a lock held by a vanished thread is reset.
  void ResetAfterFork() ABSL_NO_THREAD_SAFETY_ANALYSIS { locked_.store(false, std::memory_order_relaxed); }

 private:
  void LockSlow() {
    for (int spins = 0;; ++spins) {
      if (!locked_.load(std::memory_order_relaxed) &&
          !locked_.exchange(true, std::memory_order_acquire)) {
        return;
      }
      if (spins < 64) {
        __builtin_ia32_pause();
      } else {
        os::Yield();
      }
    }
  }
  std::atomic<bool> locked_{false};
};

class ABSL_SCOPED_LOCKABLE SpinLockHolder {
 public:
  explicit SpinLockHolder(SpinLock* l) ABSL_EXCLUSIVE_LOCK_FUNCTION(l) : l_(l) { l_->Lock(); }
  ~SpinLockHolder() ABSL_UNLOCK_FUNCTION() { l_->Unlock(); }
  SpinLockHolder(const SpinLockHolder&) = delete;
  SpinLockHolder& operator=(const SpinLockHolder&) = delete;

 private:
  SpinLock* l_;
};

}  // namespace hakmem

#endif  // HAKMEM_CORE_LOCK_H_
