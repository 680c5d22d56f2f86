// Every core data structure of the small-object allocator in one place, laid out for the
// fast path (the mimalloc convention). Components own the behaviour; this header owns the
// shapes and the invariants that tie them together.
//
// Address space: small objects live in 4 MiB chunks, aligned to 4 MiB, each chunk dedicated
// to one size class. A constant-initialized byte map indexed by (address >> 22) gives the
// class of any chunk, so free() learns a block's class with one load and no header.
//
//   chunk = [ ChunkHeader (one page) | span 0 objects ... | span 1 | ... | span N-1 ]
//
// A span is a power-of-two slice of a chunk (64 KiB .. 2 MiB, chosen per class so that it
// holds several objects). Spans are the unit of accounting and of returning memory to
// the OS: a span whose objects are all free is reset and, after the decay period, madvised.
//
// Where a free object can be (and the invariant that keeps the books):
//   span.capacity == span.used + |span.free_list| + (span.end - span.bump) / object_size
// and every "used" object is either live in the program, in a thread cache list, or in a
// central transfer-cache batch.
#ifndef HAKMEM_CORE_TYPES_H_
#define HAKMEM_CORE_TYPES_H_

#include <stddef.h>
#include <stdint.h>

namespace hakmem {

inline constexpr size_t kPageSize = 4096;
inline constexpr int kChunkShift = 22;
inline constexpr size_t kChunkSize = size_t{1} << kChunkShift;  // 4 MiB
// User-space addresses on x86-64 (4-level paging) are below 2^47.
inline constexpr int kAddressBits = 47;
inline constexpr size_t kChunkMapEntries = size_t{1} << (kAddressBits - kChunkShift);

// Size classes: 16..128 in steps of 16, then 8 classes per doubling up to kMaxSmallSize.
// Class 0 is "not a small chunk" in the chunk map.
inline constexpr size_t kMinAlign = 16;
inline constexpr size_t kMaxSmallSize = 256 * 1024;
inline constexpr int kClassesPerDoubling = 8;
inline constexpr int kNumClasses = 1 + 8 + kClassesPerDoubling * 11;  // 97 incl. class 0
// Alignments up to this are served by size classes whose objects are naturally aligned;
// larger ones go to the large route.
inline constexpr size_t kMaxClassAlign = kPageSize;

inline constexpr size_t kMinSpanSize = 64 * 1024;
inline constexpr int kMaxSpansPerChunk = kChunkSize / kMinSpanSize;  // 64

// One per-class list in a thread cache. 16 bytes so that the fast path touches one line
// for head, length and limit together.
struct FreeList {
  void* head;           // singly linked through the first word of each free object
  uint32_t length;      // == number of objects reachable from head
  uint32_t max_length;  // 0 until the thread is set up: makes the first free go slow
};

struct Span {
  void* free_list;      // objects returned to this span, linked through their first word
  char* bump;           // next never-carved object
  char* end;            // end of the object area (last whole object)
  uint32_t used;        // objects handed out of the span
  uint32_t capacity;    // objects the span holds
  Span* next;           // in the class's partial or empty list
  Span* prev;
  uint32_t empty_since_ms;  // when used last fell to 0 (monotonic ms, mod 2^32; for decay)
  uint8_t list;         // which central list holds the span: SpanList below
};

enum SpanList : uint8_t {
  kSpanNone = 0,
  kSpanPartial = 1,
  kSpanEmpty = 2,
  kSpanFull = 3,
  kSpanReleased = 4,
};

struct ChunkHeader {
  uint8_t size_class;
  uint8_t span_shift;
  uint16_t num_spans;
  uint32_t spans_started;  // spans [0, spans_started) have been put to use
  ChunkHeader* next;       // the class's list of chunks
  Span spans[kMaxSpansPerChunk];
};
static_assert(sizeof(ChunkHeader) <= kPageSize, "chunk header must fit in its page");

inline ChunkHeader* ChunkOf(const void* p) {
  return reinterpret_cast<ChunkHeader*>(reinterpret_cast<uintptr_t>(p) & ~(kChunkSize - 1));
}

}  // namespace hakmem

#endif  // HAKMEM_CORE_TYPES_H_
