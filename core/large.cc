#include "core/large.h"

#include "core/base.h"
#include "core/lock.h"
#include "core/options.h"
#include "core/os.h"
#include "core/profile_hooks.h"
#include "core/thread_cache.h"
#include "core/types.h"

namespace hakmem {
namespace {

// Default placement of the user pointer inside a mapping: right after the 64-byte header,
// so the block is cache-line aligned and the header shares its page.
constexpr size_t kHeaderRoom = 64;
constexpr int kMaxRetained = 64;

struct Retained {
  char* mapping;
  size_t size;
  uint64_t freed_ns;
};

SpinLock g_lock;
Retained g_retained[kMaxRetained] ABSL_GUARDED_BY(g_lock);
int g_num_retained ABSL_GUARDED_BY(g_lock) = 0;
uint64_t g_retained_bytes ABSL_GUARDED_BY(g_lock) = 0;
LargeStats g_stats ABSL_GUARDED_BY(g_lock) = {};

inline size_t PageRound(size_t n) { return (n + kPageSize - 1) & ~(kPageSize - 1); }

void RemoveRetained(int i) ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_lock) {
  g_retained_bytes -= g_retained[i].size;
  g_retained[i] = g_retained[--g_num_retained];
}

// Takes the smallest retained mapping that fits `need` without wasting over a quarter.
char* TakeRetained(size_t need, size_t* size) ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_lock) {
  int best = -1;
  for (int i = 0; i < g_num_retained; ++i) {
    const size_t s = g_retained[i].size;
    if (s >= need && s - need <= need / 4 && (best < 0 || s < g_retained[best].size)) best = i;
  }
  if (best < 0) return nullptr;
  char* m = g_retained[best].mapping;
  *size = g_retained[best].size;
  RemoveRetained(best);
  return m;
}

// Writes the mapping fields of the header for user pointer `p` inside `mapping`.
LargeHeader* Stamp(char* mapping, size_t mapping_size, uintptr_t p) {
  LargeHeader* h = LargeHeaderOf(reinterpret_cast<void*>(p));
  h->magic = kLargeMagic ^ p;
  h->mapping = mapping;
  h->mapping_size = mapping_size;
  h->strategy = Strategy::kDirectMap;
  return h;
}

LargeHeader* Place(char* mapping, size_t mapping_size, size_t align) {
  uintptr_t p = reinterpret_cast<uintptr_t>(mapping) + kHeaderRoom;
  if (align > kHeaderRoom) {
    p = (reinterpret_cast<uintptr_t>(mapping) + sizeof(LargeHeader) + align - 1) & ~(align - 1);
  }
  return Stamp(mapping, mapping_size, p);
}

void NoteAlloc(size_t bytes, bool reused) ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_lock) {
  ++g_stats.allocs;
  if (reused) ++g_stats.reuses;
  g_stats.live_bytes += bytes;
  if (g_stats.live_bytes > g_stats.peak_live_bytes) g_stats.peak_live_bytes = g_stats.live_bytes;
}

}  // namespace

bool IsLargeBlock(const void* p) {
  if ((reinterpret_cast<uintptr_t>(p) & 15) != 0) return false;
  const LargeHeader* h = LargeHeaderOf(p);
  return h->magic == (kLargeMagic ^ reinterpret_cast<uintptr_t>(p));
}

void* LargeAlloc(size_t size, size_t align, bool* fresh, const BlockTag& tag) {
  const size_t room = align > kHeaderRoom ? align + sizeof(LargeHeader) : kHeaderRoom;
  if (size > (size_t{1} << 46) || align > (size_t{1} << 40)) return nullptr;
  const size_t need = PageRound(size + room);
  size_t mapping_size = need;
  char* mapping = nullptr;
  {
    SpinLockHolder h(&g_lock);
    mapping = TakeRetained(need, &mapping_size);
    if (mapping != nullptr) NoteAlloc(mapping_size, true);
  }
  *fresh = mapping == nullptr;
  if (mapping == nullptr) {
    mapping = static_cast<char*>(os::Map(need));
    if (mapping == nullptr) return nullptr;
    mapping_size = need;
    SpinLockHolder h(&g_lock);
    NoteAlloc(mapping_size, false);
  }
  LargeHeader* h = Place(mapping, mapping_size, align);
  h->requested_size = size;
  h->tag = tag;
  return h + 1;
}

void LargeFree(void* p) {
  LargeHeader* h = LargeHeaderOf(p);
  char* mapping = h->mapping;
  const size_t size = h->mapping_size;
  h->magic = 0;  // a second free of the same pointer is then caught as foreign
  if (h->tag.site != 0 && ProfilerLinked()) {
    const uint64_t now = os::NowNs();
    ProfilerRecordFree(h->tag.site, h->requested_size, h->tag.weight,
                       now > h->tag.alloc_ns ? now - h->tag.alloc_ns : 0,
                       h->tag.thread != CurrentThreadTag());
  }
  const uint64_t cap = static_cast<uint64_t>(GetOption(Option::kRetainBytes));
  Retained evicted[4];
  int num_evicted = 0;
  bool retained = false;
  {
    SpinLockHolder l(&g_lock);
    ++g_stats.frees;
    g_stats.live_bytes -= size;
    if (size <= cap) {
      // Make room by evicting the oldest, a few at most; beyond that, do not retain.
      while (g_retained_bytes + size > cap || g_num_retained == kMaxRetained) {
        if (num_evicted == 4 || g_num_retained == 0) break;
        int oldest = 0;
        for (int i = 1; i < g_num_retained; ++i) {
          if (g_retained[i].freed_ns < g_retained[oldest].freed_ns) oldest = i;
        }
        evicted[num_evicted++] = g_retained[oldest];
        RemoveRetained(oldest);
      }
      if (g_retained_bytes + size <= cap && g_num_retained < kMaxRetained) {
        g_retained[g_num_retained++] = Retained{mapping, size, os::NowNs()};
        g_retained_bytes += size;
        retained = true;
      }
    }
  }
  for (int i = 0; i < num_evicted; ++i) os::Unmap(evicted[i].mapping, evicted[i].size);
  if (!retained) os::Unmap(mapping, size);
}

size_t LargeUsableSize(const void* p) {
  const LargeHeader* h = LargeHeaderOf(p);
  return static_cast<size_t>(h->mapping + h->mapping_size - static_cast<const char*>(p));
}

void* LargeRealloc(void* p, size_t size) {
  LargeHeader* h = LargeHeaderOf(p);
  const size_t offset = static_cast<size_t>(static_cast<char*>(p) - h->mapping);
  if (size > (size_t{1} << 46)) return nullptr;
  const size_t need = PageRound(offset + size);
  const size_t old_size = h->mapping_size;
  if (need <= old_size && need >= old_size / 2) return p;  // fits, without gross waste
  char* m = static_cast<char*>(os::Remap(h->mapping, old_size, need));
  if (m == nullptr) return need <= old_size ? p : nullptr;
  // The block keeps its offset in the mapping (aligned blocks depend on it); the rest of
  // the header moved with the mapping.
  LargeHeader* nh = Stamp(m, need, reinterpret_cast<uintptr_t>(m) + offset);
  nh->requested_size = size;
  void* q = nh + 1;
  SpinLockHolder l(&g_lock);
  g_stats.live_bytes = g_stats.live_bytes - old_size + need;
  if (g_stats.live_bytes > g_stats.peak_live_bytes) g_stats.peak_live_bytes = g_stats.live_bytes;
  return q;
}

uint64_t LargeReleaseRetained(uint64_t now_ns, uint64_t decay_ns) {
  Retained victims[kMaxRetained];
  int n = 0;
  {
    SpinLockHolder h(&g_lock);
    for (int i = 0; i < g_num_retained;) {
      if (now_ns >= g_retained[i].freed_ns && now_ns - g_retained[i].freed_ns >= decay_ns) {
        victims[n++] = g_retained[i];
        RemoveRetained(i);
      } else {
        ++i;
      }
    }
  }
  uint64_t bytes = 0;
  for (int i = 0; i < n; ++i) {
    os::Unmap(victims[i].mapping, victims[i].size);
    bytes += victims[i].size;
  }
  return bytes;
}

LargeStats GetLargeStats() {
  SpinLockHolder h(&g_lock);
  LargeStats s = g_stats;
  s.retained_bytes = g_retained_bytes;
  return s;
}

void LargeLockForFork() ABSL_NO_THREAD_SAFETY_ANALYSIS { g_lock.Lock(); }
void LargeUnlockForFork() ABSL_NO_THREAD_SAFETY_ANALYSIS { g_lock.Unlock(); }
void LargeResetAfterFork() { g_lock.ResetAfterFork(); }

}  // namespace hakmem
