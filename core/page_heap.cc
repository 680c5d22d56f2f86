#include "core/page_heap.h"

#include "core/chunk_map.h"
#include "core/lock.h"
#include "core/os.h"
#include "core/size_class.h"

namespace hakmem {

uint8_t g_chunk_class[kChunkMapEntries];

namespace {

// 64 chunks per reservation: big enough that region mmaps are rare, small enough that a
// tiny program's address-space footprint stays modest.
constexpr size_t kRegionSize = 64 * kChunkSize;

SpinLock g_lock;
char* g_region_next ABSL_GUARDED_BY(g_lock) = nullptr;
char* g_region_end ABSL_GUARDED_BY(g_lock) = nullptr;
uint64_t g_reserved ABSL_GUARDED_BY(g_lock) = 0;
uint64_t g_chunks ABSL_GUARDED_BY(g_lock) = 0;

char* CarveChunk() ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_lock) {
  if (g_region_next == g_region_end) {
    char* r = static_cast<char*>(os::MapAligned(kRegionSize, kChunkSize));
    size_t size = kRegionSize;
    if (r == nullptr) {  // address space tight (RLIMIT_AS): fall back to one chunk
      r = static_cast<char*>(os::MapAligned(kChunkSize, kChunkSize));
      size = kChunkSize;
    }
    if (r == nullptr) return nullptr;
    g_region_next = r;
    g_region_end = r + size;
    g_reserved += size;
  }
  char* c = g_region_next;
  g_region_next += kChunkSize;
  ++g_chunks;
  return c;
}

}  // namespace

ChunkHeader* AllocateChunk(int size_class) {
  char* mem;
  {
    SpinLockHolder h(&g_lock);
    mem = CarveChunk();
  }
  if (mem == nullptr) return nullptr;
  auto* chunk = reinterpret_cast<ChunkHeader*>(mem);
  chunk->size_class = static_cast<uint8_t>(size_class);
  chunk->span_shift = static_cast<uint8_t>(SpanShift(size_class));
  chunk->num_spans = static_cast<uint16_t>(kChunkSize >> chunk->span_shift);
  chunk->spans_started = 0;
  chunk->next = nullptr;
  SetChunkClass(chunk, size_class);
  return chunk;
}

PageHeapStats GetPageHeapStats() {
  SpinLockHolder h(&g_lock);
  return PageHeapStats{g_reserved, g_chunks};
}

void PageHeapLockForFork() ABSL_NO_THREAD_SAFETY_ANALYSIS { g_lock.Lock(); }
void PageHeapUnlockForFork() ABSL_NO_THREAD_SAFETY_ANALYSIS { g_lock.Unlock(); }
void PageHeapResetAfterFork() { g_lock.ResetAfterFork(); }

}  // namespace hakmem
