#include "core/page_heap.h"

#include <atomic>

#include "core/lock.h"
#include "core/os.h"
#include "core/page_map.h"
#include "core/types.h"

namespace hakmem {

uintptr_t g_heap_base = 0;
uint8_t g_page_class[kMaxHeapGranules];
uint8_t g_page_shard[kMaxHeapGranules];
Span* g_spans = nullptr;

namespace {

struct ChunkMeta {
  uint64_t used;     // bit i: granule i is in a span
  uint64_t dirty;    // bit i: granule i may hold committed pages
  uint32_t last_free_ms;
  bool listed;       // in the list of chunks with free granules
  ChunkMeta* next;
  ChunkMeta* prev;
};

SpinLock g_lock;
size_t g_heap_size = 0;                  // bytes reserved; 0 until PageHeapInit succeeds
ChunkMeta* g_chunks = nullptr;           // one per chunk of the reservation
size_t g_committed ABSL_GUARDED_BY(g_lock) = 0;   // bytes of the heap made accessible
ChunkMeta* g_free_list ABSL_GUARDED_BY(g_lock) = nullptr;  // chunks with free granules
uint64_t g_span_bytes ABSL_GUARDED_BY(g_lock) = 0;
std::atomic<int> g_init_state{0};

// The decay pass's clock (coarse): ages are compared with its `now`.
inline uint32_t NowMs() { return static_cast<uint32_t>(os::NowCoarseNs() / 1000000u); }

inline char* ChunkAddress(const ChunkMeta* m) {
  return reinterpret_cast<char*>(g_heap_base) + static_cast<size_t>(m - g_chunks) * kChunkSize;
}

void Link(ChunkMeta* m) ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_lock) {
  m->listed = true;
  m->prev = nullptr;
  m->next = g_free_list;
  if (g_free_list != nullptr) g_free_list->prev = m;
  g_free_list = m;
}

void Unlink(ChunkMeta* m) ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_lock) {
  if (m->prev != nullptr) m->prev->next = m->next; else g_free_list = m->next;
  if (m->next != nullptr) m->next->prev = m->prev;
  m->listed = false;
}

inline uint64_t RunMask(int granules) {
  return granules >= 64 ? ~uint64_t{0} : ((uint64_t{1} << granules) - 1);
}

// First aligned run of `granules` free bits, or -1. Prefers a run whose granules are all
// dirty (no page faults), then any.
int FindRun(const ChunkMeta* m, int granules) {
  const uint64_t mask = RunMask(granules);
  int any = -1;
  for (int pos = 0; pos < kGranulesPerChunk; pos += granules) {
    if (((m->used >> pos) & mask) != 0) continue;
    if (((m->dirty >> pos) & mask) == mask) return pos;
    if (any < 0) any = pos;
  }
  return any;
}

ChunkMeta* NewChunk() ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_lock) {
  if (g_committed + kChunkSize > g_heap_size) return nullptr;
  char* addr = reinterpret_cast<char*>(g_heap_base) + g_committed;
  if (!os::Commit(addr, kChunkSize)) return nullptr;
  ChunkMeta* m = &g_chunks[g_committed >> kChunkShift];
  g_committed += kChunkSize;
  m->used = 0;
  m->dirty = 0;
  Link(m);
  return m;
}

}  // namespace

bool InHeap(const void* p) {
  return g_heap_size != 0 && reinterpret_cast<uintptr_t>(p) - g_heap_base < g_heap_size;
}

bool PageHeapInit() {
  int expected = 0;
  if (!g_init_state.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) {
    while (g_init_state.load(std::memory_order_acquire) == 1) os::Yield();
    return g_heap_size != 0;
  }
  // Address space only (PROT_NONE): costs no memory and no commit charge. Smaller sizes
  // are tried where the OS caps address space (RLIMIT_AS, valgrind).
  for (int shift = kMaxHeapShift; shift >= 26 && g_heap_size == 0; shift -= 2) {
    const size_t size = size_t{1} << shift;
    void* base = os::ReserveAligned(size, kChunkSize);
    if (base == nullptr) continue;
    const size_t meta_bytes =
        (size >> kGranuleShift) * sizeof(Span) + (size >> kChunkShift) * sizeof(ChunkMeta);
    char* meta = static_cast<char*>(os::Map(meta_bytes));
    if (meta == nullptr) {
      os::Unmap(base, size);
      continue;
    }
    g_spans = reinterpret_cast<Span*>(meta);
    g_chunks = reinterpret_cast<ChunkMeta*>(meta + (size >> kGranuleShift) * sizeof(Span));
    g_heap_base = reinterpret_cast<uintptr_t>(base);
    g_heap_size = size;
  }
  g_init_state.store(2, std::memory_order_release);
  return g_heap_size != 0;
}

char* AllocateSpan(int granules) {
  if (g_heap_size == 0) return nullptr;
  SpinLockHolder h(&g_lock);
  ChunkMeta* m = g_free_list;
  int pos = -1;
  for (; m != nullptr; m = m->next) {
    pos = FindRun(m, granules);
    if (pos >= 0) break;
  }
  if (m == nullptr) {
    m = NewChunk();
    if (m == nullptr) return nullptr;
    pos = 0;
  }
  const uint64_t bits = RunMask(granules) << pos;
  m->used |= bits;
  m->dirty |= bits;
  if (m->used == ~uint64_t{0}) Unlink(m);
  g_span_bytes += static_cast<uint64_t>(granules) * kGranuleSize;
  return ChunkAddress(m) + static_cast<size_t>(pos) * kGranuleSize;
}

void FreeSpan(char* start, int granules) {
  const size_t offset = static_cast<size_t>(reinterpret_cast<uintptr_t>(start) - g_heap_base);
  ChunkMeta* m = &g_chunks[offset >> kChunkShift];
  const int pos = static_cast<int>((offset & (kChunkSize - 1)) >> kGranuleShift);
  SpinLockHolder h(&g_lock);
  m->used &= ~(RunMask(granules) << pos);
  m->last_free_ms = NowMs();
  if (!m->listed) Link(m);
  g_span_bytes -= static_cast<uint64_t>(granules) * kGranuleSize;
}

uint64_t PageHeapRelease(uint64_t now_ns, uint64_t decay_ns) {
  const uint32_t now_ms = static_cast<uint32_t>(now_ns / 1000000u);
  const uint64_t decay_ms = decay_ns / 1000000u;
  uint64_t released = 0;
  SpinLockHolder h(&g_lock);
  for (ChunkMeta* m = g_free_list; m != nullptr; m = m->next) {
    uint64_t idle = m->dirty & ~m->used;
    if (idle == 0) continue;
    // Ages are differences mod 2^32 ms; one over 2^31 means "freed after this pass began".
    const uint32_t age_ms = now_ms - m->last_free_ms;
    if (age_ms >= (1u << 31) || age_ms < decay_ms) continue;
    char* chunk = ChunkAddress(m);
    while (idle != 0) {  // one madvise per run of idle granules
      const int first = __builtin_ctzll(idle);
      const uint64_t from_first = idle >> first;
      const int len = from_first == ~uint64_t{0} >> first ? 64 - first
                                                          : __builtin_ctzll(~from_first);
      os::Decommit(chunk + static_cast<size_t>(first) * kGranuleSize,
                   static_cast<size_t>(len) * kGranuleSize);
      released += static_cast<uint64_t>(len) * kGranuleSize;
      const uint64_t run = RunMask(len) << first;
      idle &= ~run;
      m->dirty &= ~run;
    }
  }
  return released;
}

PageHeapStats GetPageHeapStats() {
  SpinLockHolder h(&g_lock);
  PageHeapStats s{};
  s.reserved_bytes = g_heap_size;
  s.committed_bytes = g_committed;
  s.span_bytes = g_span_bytes;
  for (ChunkMeta* m = g_free_list; m != nullptr; m = m->next) {
    s.dirty_free_bytes +=
        static_cast<uint64_t>(__builtin_popcountll(m->dirty & ~m->used)) * kGranuleSize;
  }
  return s;
}

void PageHeapLockForFork() ABSL_NO_THREAD_SAFETY_ANALYSIS { g_lock.Lock(); }
void PageHeapUnlockForFork() ABSL_NO_THREAD_SAFETY_ANALYSIS { g_lock.Unlock(); }
void PageHeapResetAfterFork() { g_lock.ResetAfterFork(); }

}  // namespace hakmem
