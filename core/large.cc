#include "core/large.h"

#include <stdint.h>

#include <atomic>

#include "core/base.h"
#include "core/bigcache_hooks.h"
#include "core/check.h"
#include "core/cycleclock.h"
#include "core/learner_hooks.h"
#include "core/options.h"
#include "core/os.h"
#include "core/profile_hooks.h"
#include "core/thread_cache.h"
#include "core/types.h"

namespace hakmem {
namespace {

// Default placement of the user pointer inside a mapping: right after the 64-byte header,
// so the block is cache-line aligned and the header shares its page.
constexpr size_t kHeaderRoom = sizeof(LargeHeader);

// Counters only (no lock on these paths): relaxed atomics.
std::atomic<uint64_t> g_frees{0}, g_reuses{0};
std::atomic<int64_t> g_live{0}, g_peak{0};
std::atomic<uint64_t> g_by_strategy[kNumStrategies] = {};

void NoteLive(int64_t delta) {
  const int64_t live = g_live.fetch_add(delta, std::memory_order_relaxed) + delta;
  int64_t peak = g_peak.load(std::memory_order_relaxed);
  while (live > peak && !g_peak.compare_exchange_weak(peak, live, std::memory_order_relaxed)) {
  }
}

// Writes the mapping fields of the header for user pointer `p` inside `mapping`.
LargeHeader* Stamp(char* mapping, size_t mapping_size, uintptr_t p, Strategy s) {
  LargeHeader* h = LargeHeaderOf(reinterpret_cast<void*>(p));
  h->magic = kLargeMagic ^ p;
  h->mapping = mapping;
  h->mapping_size = mapping_size;
  h->strategy = s;
  return h;
}

// Written at the start of a followed block's mapping when it goes into BigCache: who
// freed it and when, so the learner can charge that site for the time it waits there.
struct CacheStamp {
  uint64_t magic;       // kCacheStampMagic ^ mapping address
  uint32_t handle;      // the learner's handle of the freed block
  uint32_t requested_kib;  // the freed block's requested size, KiB (rounded up)
  uint64_t put_ticks;   // cycleclock at the free
};
constexpr uint64_t kCacheStampMagic = 0x68616b6d656d4353ull;  // "hakmemCS"
static_assert(kCacheStampOffset + sizeof(CacheStamp) <= sizeof(LargeHeader),
              "the stamp stays within the page the header used");

CacheStamp* StampOf(char* mapping) {
  return reinterpret_cast<CacheStamp*>(mapping + kCacheStampOffset);
}

void StampForCache(char* mapping, uint32_t handle, size_t requested, uint64_t now) {
  CacheStamp* s = StampOf(mapping);
  s->magic = kCacheStampMagic ^ reinterpret_cast<uintptr_t>(mapping);
  s->handle = handle;
  const uint64_t kib = (requested + 1023) >> 10;
  s->requested_kib = kib > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(kib);
  s->put_ticks = now;
}

// Reports the idle time of a stamped mapping leaving the cache, and clears the stamp.
void CloseCacheStamp(char* mapping, size_t mapping_size) {
  CacheStamp* s = StampOf(mapping);
  if (s->magic != (kCacheStampMagic ^ reinterpret_cast<uintptr_t>(mapping))) return;
  s->magic = 0;
  if (!g_learner_measuring || !LearnerLinked()) return;
  const uint64_t now = cycleclock::Now();
  const size_t requested = size_t{s->requested_kib} << 10;
  // BigCache retires records without the block's mapping size (0): its request then.
  LearnerOnCacheIdle(s->handle, mapping_size != 0 ? mapping_size : requested, requested,
                     now > s->put_ticks ? now - s->put_ticks : 0);
}

}  // namespace

bool g_learner_measuring = false;
bool g_tracing = false;
bool g_learner_wants_all_pages = false;

namespace {
// Whether big mappings get transparent huge pages: 0 or 1, or kUndecided until the first
// one is made (HAKMEM_HUGE_PAGES=2), kProbing while one thread measures.
constexpr int kUndecided = -1, kProbing = -2;
std::atomic<int> g_huge_pages{0};  // LargeInit

// A block in a mapping of 2 MiB and up starts one page into it, on a huge-page boundary
// (the header takes the end of that first page): with huge pages a 16 MiB block then fills
// 8 of them, where at 64 bytes in its last 64 bytes would fault in a ninth (2 MiB of
// memory for 64 bytes). Without huge pages the placement still pays: BigCache carves such
// blocks in whole 2 MiB units, so when it gathers one from pieces, the kernel moves whole
// page tables (one entry per 2 MiB) instead of 512 entries one by one (malloc-large: the
// moves took 14% of its run time in 4 KiB units, under 1% in 2 MiB ones).
constexpr size_t kHugeRoom = kPageSize;

// A block in one of BigCache's huge regions has its extent in whole 2 MiB units, and
// starts one page into the first: its end usually lies inside its last unit, and with
// huge pages the first touch there makes all 2 MiB resident. A 16 MiB block (its data
// reaching 4 KiB into a ninth unit) then held 18 MiB; z3's two 8320 KiB tables held 10
// MiB each (peak RSS 62.8 MiB against 59.0 on small pages, glibc 50.7), alloc-test's
// 4 MiB block 6 (15.4 MiB against 13.4). A block mapped directly has no such tail: its
// mapping ends with it, and the kernel gives a huge page only where one fits whole.
// So where a fresh block uses at most this much of its last unit, that unit is advised
// for small pages: 64 faults at most, against up to 2 MiB of memory it would not use.
// Its free advises the unit as the region again (whole huge-page advice, one mapping),
// so that BigCache's moves and the next block there see the region as it was.
constexpr size_t kSmallTailBytes = 256 << 10;

// For a fresh block ending at `end` in the BigCache extent [mapping, mapping + size):
// advises the extent's last unit for small pages if the block uses little of it.
bool AdviseSmallTail(char* mapping, size_t size, uintptr_t end) {
  const uintptr_t last = (end - 1) & ~(os::kHugePageBytes - 1);
  const uintptr_t start = reinterpret_cast<uintptr_t>(mapping);
  if (end - last > kSmallTailBytes || last <= start || start + size <= last) return false;
  os::Advise(reinterpret_cast<void*>(last), start + size - last, os::Advice::kNoHugePages);
  return true;
}

// Undoes AdviseSmallTail before the extent goes back to BigCache.
void RestoreHugeAdvice(LargeHeader* h) {
  if (!h->small_tail) return;
  os::Advise(h->mapping, h->mapping_size, os::Advice::kHugePages);
  h->small_tail = false;
}

bool HugeMapping(size_t mapping_size) { return mapping_size >= os::kHugePageBytes; }

// A fresh mapping for a block: with its block's start on a huge-page boundary when it
// holds at least one, advised as LargeHugePages says (os::MapAligned).
char* MapFresh(size_t size) {
  return static_cast<char*>(HugeMapping(size) ? os::MapAligned(size, kHugeRoom, LargeHugePages())
                                              : os::Map(size));
}

// Whether a huge page costs clearly less than the 512 small pages it replaces over the life
// BigCache gives a page: a first touch, then a move (BigCache gathers blocks by moving
// pages, os::MovePages) and a touch where it landed, measured now. Which one wins depends
// on the machine, and no default is right on all: on bare metal a huge fault zeroes 2 MiB
// at memset speed where 512 faults each pay a trap; on the VMs this was tuned on, one type
// charged 20-70 us a 4 KiB fault (malloc-large ran 93 s without huge pages, 10 s with),
// another 3 us, and there a huge page the host had just reclaimed (free page reporting)
// cost 4-9 ms, 3 to 6 times its 512 small pages (malloc-large: 4.1 s against 2.9 s). A
// third type (PVM, shadow page tables) charges 9.5 us a small first touch, 4.5 ms a cold
// huge one, and about 6 us for each small page touched again after a move, where a moved
// huge page costs one such trap: first touches alone chose small pages there, and
// malloc-large ran 21 s against 1.0-1.6 s with huge pages. The probe costs what it
// measures, 0.5 to 20 ms, once per process, at its first mapping of 2 MiB or more. Up to
// 16 huge pages, each of which must win: the first few come warm from memory the kernel
// freed last, and the bulk can be cold (measured here, 2 MiB first touches after another
// allocator's run: 4 at 0.2 ms, then 216 at 7 ms; after 4 s idle, 11 then the rest; after
// a run that used huge pages, all at 0.2 ms). The first loss ends it. A huge mapping the
// kernel served with small pages measures as small pages: no huge pages then. Where the
// kernel cannot move pages, only first touches count.
bool ProbeHugePages() {
  constexpr size_t kSmallPages = 32;
  constexpr size_t kSmallBytes = kSmallPages * kPageSize;
  // Touches every page of [p, p + bytes) once; the nanoseconds it took.
  auto touch = [](char* p, size_t bytes) {
    auto* v = static_cast<volatile char*>(p);
    const uint64_t t0 = os::NowNs();
    for (size_t i = 0; i < bytes; i += kPageSize) v[i] = 1;
    return static_cast<double>(os::NowNs() - t0);
  };
  // Per small page: its first touch, and its touch after a move. The cheaper of two
  // trials (a stray interrupt only adds). moved_ns < 0: the kernel refused the move, so
  // BigCache does not move pages here either and first touches are all there is.
  double first_ns = 0, moved_ns = 0;
  for (int t = 0; t < 2; ++t) {
    auto* p = static_cast<char*>(os::Map(2 * kSmallBytes));
    if (p == nullptr) return false;
    const double first = touch(p, kSmallBytes) / kSmallPages;
    const double moved = os::MovePages(p, p + kSmallBytes, kSmallBytes)
                             ? touch(p + kSmallBytes, kSmallBytes) / kSmallPages
                             : -1;
    os::Unmap(p, 2 * kSmallBytes);
    if (t == 0 || first + moved < first_ns + moved_ns) {
      first_ns = first;
      moved_ns = moved;
    }
  }
  // Where touching a moved small page traps (shadow page tables: 4.4 to 5.8 us, where a
  // TLB miss costs about 0.1 us), every move BigCache makes pays that again for each small
  // page, and once for a huge page: huge pages win whatever first touches cost then, and
  // the probe need not fault any in. First touches there can mislead: right after another
  // process freed its memory, small pages come warm and a cold huge page loses to them,
  // and malloc-large then ran 32-38 s on small pages against 1.6-2.6 s on huge ones.
  constexpr double kMoveTrapNs = 1000;
  if (moved_ns >= kMoveTrapNs) return true;
  constexpr int kHugePages = 16;
  constexpr size_t kRegion = kHugePages * os::kHugePageBytes;
  constexpr double kPerHuge = static_cast<double>(os::kHugePageBytes / kPageSize);
  auto* h = static_cast<char*>(os::MapAligned(2 * kRegion, 0, true));
  if (h == nullptr) return false;
  bool wins = true;
  for (int k = 0; k < kHugePages && wins; ++k) {  // the first loss decides: no more to pay
    char* from = h + k * os::kHugePageBytes;
    const double first = touch(from, os::kHugePageBytes);
    double huge_ns = first, small_ns = first_ns;
    if (moved_ns >= 0 && os::MovePages(from, from + kRegion, os::kHugePageBytes)) {
      huge_ns += touch(from + kRegion, os::kHugePageBytes);
      small_ns += moved_ns;
    }
    wins = huge_ns < 0.8 * small_ns * kPerHuge;
  }
  os::Unmap(h, 2 * kRegion);
  return wins;
}

__attribute__((noinline)) bool DecideHugePages() {
  int v = kUndecided;
  if (g_huge_pages.compare_exchange_strong(v, kProbing, std::memory_order_acq_rel)) {
    const bool on = ProbeHugePages();
    g_huge_pages.store(on ? 1 : 0, std::memory_order_release);
    return on;
  }
  // Another thread is measuring: wait for its answer, a few ms. Bounded: a child forked
  // while its parent measured would wait forever, and is served without huge pages.
  const uint64_t give_up = os::NowNs() + 100 * 1000 * 1000;
  while ((v = g_huge_pages.load(std::memory_order_acquire)) < 0) {
    if (os::NowNs() > give_up) return false;
    os::Yield();
  }
  return v != 0;
}
}  // namespace

void LargeInit() {
  const int64_t mode = GetOption(Option::kHugePages);
  const bool available = os::HugePagesAvailable();
  g_huge_pages.store(!available || mode == 0 ? 0 : mode == 1 ? 1 : kUndecided,
                     std::memory_order_release);
}

bool LargeHugePages() {
  const int v = g_huge_pages.load(std::memory_order_acquire);
  return v >= 0 ? v != 0 : DecideHugePages();
}

int LargeHugePagesState() { return g_huge_pages.load(std::memory_order_acquire); }

void LargeCachedMappingEvicted(char* mapping, size_t mapping_size) {
  CloseCacheStamp(mapping, mapping_size);
}


bool IsLargeBlock(const void* p) {
  if ((reinterpret_cast<uintptr_t>(p) & 15) != 0) return false;
  const LargeHeader* h = LargeHeaderOf(p);
  return h->magic == (kLargeMagic ^ reinterpret_cast<uintptr_t>(p));
}

// The mapping a block of `size` at `align` needs (header room, guard, whole pages); 0 for
// a size or alignment no mapping serves. One rule for LargeCacheable and LargeAlloc.
static size_t MappingNeed(size_t size, size_t align) {
  if (size > (size_t{1} << 46) || align > (size_t{1} << 40)) return 0;
  const size_t room = align > kHeaderRoom ? align + sizeof(LargeHeader) : kHeaderRoom;
  const size_t need = PageRound(size + room + kGuardBytes);
  return align <= kHugeRoom && HugeMapping(need) ? PageRound(size + kHugeRoom + kGuardBytes)
                                                  : need;
}

bool LargeCacheable(size_t size, size_t align) {
  if (!BigCacheLinked()) return false;
  // One compare per routed request: the bin arithmetic is LargeAlloc's, once.
  const size_t need = MappingNeed(size, align);
  return need != 0 && need <= kBigCacheLargestBlock;
}

void* LargeAlloc(size_t size, size_t align, Strategy strategy, const BlockTag& tag, bool* fresh) {
  const size_t need = MappingNeed(size, align);
  if (need == 0) return nullptr;
  size_t mapping_size = need;
  char* mapping = nullptr;
  *fresh = true;
  if (strategy == Strategy::kBigCache) {
    if (BigCacheLinked()) mapping = BigCacheTake(need, HugeMapping(need), &mapping_size, fresh);
    if (mapping == nullptr) {  // BigCache not linked in, or the OS refused it a region
      strategy = Strategy::kMmap;
      mapping_size = need;
      *fresh = true;
    }
  }
  if (mapping == nullptr) {
    mapping = MapFresh(mapping_size);
    if (mapping == nullptr) return nullptr;
  } else if (!*fresh) {
    g_reuses.fetch_add(1, std::memory_order_relaxed);
    CloseCacheStamp(mapping, mapping_size);  // before the new header may overwrite it
  }
  g_by_strategy[static_cast<int>(strategy)].fetch_add(1, std::memory_order_relaxed);
  NoteLive(static_cast<int64_t>(mapping_size));
  uintptr_t p = reinterpret_cast<uintptr_t>(mapping) + kHeaderRoom;
  if (align <= kHugeRoom && HugeMapping(mapping_size) &&
      mapping_size >= size + kHugeRoom + kGuardBytes) {
    p = reinterpret_cast<uintptr_t>(mapping) + kHugeRoom;
  } else if (align > kHeaderRoom) {
    p = (reinterpret_cast<uintptr_t>(mapping) + sizeof(LargeHeader) + align - 1) & ~(align - 1);
  }
  LargeHeader* h = Stamp(mapping, mapping_size, p, strategy);
  h->requested_size = size;
  h->tag = tag;
  h->fresh = *fresh;
  h->small_tail = *fresh && strategy == Strategy::kBigCache && HugeMapping(mapping_size) &&
                  LargeHugePages() && AdviseSmallTail(mapping, mapping_size, p + size);
  h->learn_handle = 0;
  CheckWriteGuard(h + 1, size);
  return h + 1;
}

void LargeFree(void* p) {
  LargeHeader* h = LargeHeaderOf(p);
  CheckVerifyGuard(p, h->requested_size);
  char* mapping = h->mapping;
  const size_t size = h->mapping_size;
  const Strategy strategy = h->strategy;
  const uint32_t handle = g_learner_measuring ? h->learn_handle : 0;
  h->magic = 0;  // a second free of the same pointer is then caught as foreign
  if (h->tag.site != 0 && ProfilerLinked()) {
    const uint64_t now = cycleclock::Now();
    ProfilerRecordFree(h->tag.site, h->requested_size, h->tag.weight,
                       now > h->tag.alloc_ticks ? cycleclock::ToNs(now - h->tag.alloc_ticks) : 0,
                       h->tag.thread != CurrentThreadTag());
  }
  // For the learner: pages of a fresh block the program touched each cost it a fault.
  // Counted before the clock starts: mincore is the learner's cost, not the strategy's.
  const bool fresh = h->fresh;
  const size_t requested = h->requested_size;
  const size_t touched = handle != 0 && (fresh || g_learner_wants_all_pages)
                             ? os::ResidentPages(p, requested)
                             : 0;
  const uint64_t t0 = handle != 0 ? cycleclock::Now() : 0;
  g_frees.fetch_add(1, std::memory_order_relaxed);
  NoteLive(-static_cast<int64_t>(size));
  bool cached = false;
  if (strategy == Strategy::kBigCache) {
    // The memory is BigCache's: it stays resident for reuse, or BigCache releases it.
    RestoreHugeAdvice(h);
    if (handle != 0) StampForCache(mapping, handle, requested, t0);
    cached = BigCachePut(mapping, size);
  } else {
    os::Unmap(mapping, size);
  }
  if (handle != 0 && LearnerLinked()) {
    LearnerOnFree(handle, strategy, requested, cycleclock::Now() - t0, touched, fresh, cached);
  }
}

size_t LargeUsableSize(const void* p) {
  const LargeHeader* h = LargeHeaderOf(p);
  // The checking build's guard follows the requested size: only that much is usable.
  if constexpr (kChecking) return h->requested_size;
  return static_cast<size_t>(h->mapping + h->mapping_size - static_cast<const char*>(p));
}

void* LargeRealloc(void* p, size_t size, bool* must_move) {
  *must_move = false;
  LargeHeader* h = LargeHeaderOf(p);
  const size_t offset = static_cast<size_t>(static_cast<char*>(p) - h->mapping);
  if (size > (size_t{1} << 46)) return nullptr;
  CheckVerifyGuard(p, h->requested_size);
  const size_t need = PageRound(offset + size + kGuardBytes);
  const size_t old_size = h->mapping_size;
  if (need <= old_size && need >= old_size / 2) {  // fits, without gross waste
    h->requested_size = size;
    CheckWriteGuard(p, size);
    return p;
  }
  if (h->strategy == Strategy::kBigCache) {
    // BigCache's extents sit among others in a region: no mremap. In place, into the
    // free extent after it, or the contents move (also across the huge-page line: huge
    // regions are carved in whole huge pages).
    bool gained_fresh = false;
    size_t resized = 0;
    RestoreHugeAdvice(h);  // the extent changes: its old last unit may go back to BigCache
    if (HugeMapping(need) != HugeMapping(old_size) ||
        !BigCacheResize(h->mapping, old_size, need, &resized, &gained_fresh)) {
      *must_move = true;
      return nullptr;
    }
    h->mapping_size = resized;
    h->requested_size = size;
    h->fresh = h->fresh || gained_fresh;
    NoteLive(static_cast<int64_t>(resized) - static_cast<int64_t>(old_size));
    CheckWriteGuard(p, size);
    return p;
  }
  const Strategy strategy = h->strategy;  // h is gone once mremap moves the mapping
  char* m = static_cast<char*>(os::Remap(h->mapping, old_size, need));
  if (m == nullptr) return need <= old_size ? p : nullptr;
  // The block keeps its offset in the mapping (aligned blocks depend on it) and its
  // strategy; the rest of the header moved with the mapping.
  LargeHeader* nh = Stamp(m, need, reinterpret_cast<uintptr_t>(m) + offset, strategy);
  nh->requested_size = size;
  // Grown pages are fresh whatever the block was: its touched-page count at free is then
  // an upper bound on its faults, which is how mremap'd memory behaves.
  nh->fresh = nh->fresh || need > old_size;
  NoteLive(static_cast<int64_t>(need) - static_cast<int64_t>(old_size));
  CheckWriteGuard(nh + 1, size);
  return nh + 1;
}

uint64_t LargeHeadroomBytes() {
  const int64_t live = g_live.load(std::memory_order_relaxed);
  const int64_t peak = g_peak.load(std::memory_order_relaxed);
  return peak > live ? static_cast<uint64_t>(peak - live) : 0;
}

LargeStats GetLargeStats() {
  LargeStats s{};
  s.frees = g_frees.load(std::memory_order_relaxed);
  s.reuses = g_reuses.load(std::memory_order_relaxed);
  const int64_t live = g_live.load(std::memory_order_relaxed);
  s.live_bytes = live > 0 ? static_cast<uint64_t>(live) : 0;
  s.peak_live_bytes = static_cast<uint64_t>(g_peak.load(std::memory_order_relaxed));
  for (int i = 0; i < kNumStrategies; ++i) {
    s.by_strategy[i] = g_by_strategy[i].load(std::memory_order_relaxed);
    s.allocs += s.by_strategy[i];  // every allocation counts once, under its strategy
  }
  return s;
}

}  // namespace hakmem
