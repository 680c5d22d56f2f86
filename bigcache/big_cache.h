// BigCache: reuse of freed mapped blocks instead of returning them to the OS, so a site
// that cycles large buffers pays no mmap, munmap or page fault in steady state.
//
// Bins, not a hash: mapping sizes are rounded up to classes (8 per doubling, 4 KiB to
// 64 MiB), so every mapping in a bin can serve every request for that bin. Each thread
// has a front of one slot per bin (an atomic pointer: a hit or a put is one exchange, no
// lock); behind the fronts a shared back of per-bin lists under one lock, newest first.
//
// Bounded: at most `capacity` bytes held (fronts included); past that the oldest
// mappings are evicted down to 3/4 of it, so a burst of frees costs one eviction pass
// (several unmaps together) per capacity/4 bytes freed, not an unmap per free. Mappings idle for the decay period go back
// to the OS in Release(), which the decay pass calls; fronts are visible to it.
//
// Testable on its own: the clock and the unmapping come in through Env.
#ifndef HAKMEM_BIGCACHE_BIG_CACHE_H_
#define HAKMEM_BIGCACHE_BIG_CACHE_H_

#include <stddef.h>
#include <stdint.h>

#include <atomic>

#include "core/lock.h"

namespace hakmem {
namespace bigcache {

inline constexpr int kMinShift = 12;                 // 4 KiB
inline constexpr int kMaxShift = 26;                 // 64 MiB: larger blocks are not cached
inline constexpr int kClassesPerDoubling = 8;
inline constexpr int kBins = (kMaxShift - kMinShift) * kClassesPerDoubling + 1;

// Size of bin b's mappings.
size_t BinSize(int b);
// The bin whose mappings serve `bytes` (smallest class >= bytes); -1 if too big.
int BinFor(size_t bytes);
// The bin a mapping of `size` bytes goes to (largest class <= size); -1 if out of range.
int BinOf(size_t size);

struct Env {
  uint64_t (*now_ns)();
  void (*unmap)(void* p, size_t size);
};

struct Counters {
  uint64_t hits, front_hits, misses, puts, rejects, evictions, evicted_bytes, bytes_held;
  uint64_t faults_saved;  // estimate: a hit of n bytes saves n / 4096 first-touch faults
};

class BigCache {
 public:
  constexpr BigCache(Env env, uint64_t capacity_bytes) : env_(env), capacity_(capacity_bytes) {}
  BigCache(const BigCache&) = delete;
  BigCache& operator=(const BigCache&) = delete;

  // A cached mapping that can hold `bytes` (*size: its size), or nullptr.
  char* Take(size_t bytes, size_t* size);
  // Offers a mapping of `size` bytes; false if the cache will not hold it (the caller
  // unmaps it). May evict older mappings to stay within capacity.
  bool Put(char* mapping, size_t size);
  // Evicts every mapping freed `decay_ns` or longer before `now_ns`. Returns bytes.
  uint64_t Release(uint64_t now_ns, uint64_t decay_ns);
  // Moves the calling thread's front to the back (its thread is exiting).
  void ThreadExit();

  void set_capacity(uint64_t bytes) { capacity_.store(bytes, std::memory_order_relaxed); }
  Counters GetCounters() const;

  void LockForFork() ABSL_NO_THREAD_SAFETY_ANALYSIS { lock_.Lock(); }
  void UnlockForFork() ABSL_NO_THREAD_SAFETY_ANALYSIS { lock_.Unlock(); }
  void ResetAfterFork() { lock_.ResetAfterFork(); }

 private:
  // Lives in the first bytes of a cached mapping.
  struct Node {
    Node* next;
    Node* prev;
    size_t size;
    uint64_t freed_ns;
  };
  struct Front {
    std::atomic<Node*> slot[kBins];
    Front* next;                 // every front ever made, for Release()
    std::atomic<bool> owned;     // by a live thread; a dead thread's front is reused
  };

  Front* MyFront();
  void PushBack(int bin, Node* n) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_);
  void Unlink(int bin, Node* n) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_);
  // Evicts oldest-first until bytes held <= target. Victims are unmapped by the caller.
  Node* EvictTo(uint64_t target) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_);
  uint64_t UnmapAll(Node* victims);

  uint64_t Id();

  const Env env_;
  std::atomic<uint64_t> capacity_;
  // Names this instance in threads' front tables; assigned on first use and never
  // reused (an address could be: a test's cache can be built where a dead one was).
  std::atomic<uint64_t> id_{0};
  std::atomic<uint64_t> bytes_{0};
  SpinLock lock_;
  Node* head_[kBins] ABSL_GUARDED_BY(lock_) = {};  // newest first
  Node* tail_[kBins] ABSL_GUARDED_BY(lock_) = {};
  std::atomic<Front*> fronts_{nullptr};
  std::atomic<uint64_t> hits_{0}, front_hits_{0}, misses_{0}, puts_{0}, rejects_{0};
  std::atomic<uint64_t> evictions_{0}, evicted_bytes_{0}, faults_saved_{0};
};

}  // namespace bigcache
}  // namespace hakmem

#endif  // HAKMEM_BIGCACHE_BIG_CACHE_H_
