// Every core data structure of the small-object allocator in one place, laid out for the
// fast path (the mimalloc convention). Components own the behaviour; this header owns the
// shapes and the invariants that tie them together.
//
// Address space: all small objects live in one heap reservation made at start-up
// (PROT_NONE address space, committed a 4 MiB chunk at a time). The heap is cut into
// 64 KiB granules. A span is a naturally aligned run of 1..32 granules serving one size
// class; when its objects have all come back it returns to the page heap at once, where
// any class can take it. A constant-initialized byte map indexed by
// (address - heap base) >> 16 gives the class of every granule, so free() learns a
// block's class with one load and no header.
//
// Span metadata lives outside the heap, in an array indexed by granule (only a span's
// first granule's entry is used), so spans start 64 KiB-aligned and objects of a class
// whose size is a multiple of A (A <= 64 KiB) are A-aligned.
//
// Where a free object can be (the invariant that keeps the books):
//   span.capacity == span.used + |span.free_list| + (span.end - span.bump) / object_size
// and every "used" object is either live in the program, in a thread cache list, or in a
// central transfer cache.
//
// Shards: the central lists come in up to kMaxShards copies, and each thread allocates
// from one shard's spans (central_freelist.h says why). A span belongs to the shard that
// carved it for its whole life (page_map.h's shard map records it), and its objects go
// back to that shard whichever thread frees them.
#ifndef HAKMEM_CORE_TYPES_H_
#define HAKMEM_CORE_TYPES_H_

#include <stddef.h>
#include <stdint.h>

namespace hakmem {

inline constexpr size_t kPageSize = 4096;
inline constexpr size_t PageRound(size_t n) { return (n + kPageSize - 1) & ~(kPageSize - 1); }
inline constexpr int kGranuleShift = 16;
inline constexpr size_t kGranuleSize = size_t{1} << kGranuleShift;  // 64 KiB
inline constexpr int kChunkShift = 22;
inline constexpr size_t kChunkSize = size_t{1} << kChunkShift;  // 4 MiB: unit of commit
inline constexpr int kGranulesPerChunk = kChunkSize / kGranuleSize;  // 64
// The heap reservation is at most this big (less if the OS refuses, e.g. RLIMIT_AS).
inline constexpr int kMaxHeapShift = 40;  // 1 TiB
inline constexpr size_t kMaxHeapGranules = size_t{1} << (kMaxHeapShift - kGranuleShift);

// Size classes: 16..128 in steps of 16, then 8 classes per doubling up to kMaxSmallSize.
// Class 0 is "not a small-object granule" in the page map.
inline constexpr size_t kMinAlign = 16;
inline constexpr size_t kMaxSmallSize = 256 * 1024;
// Requests of this size and up go to the route (a large block with a header, counted
// exactly by the profiler); below it the size classes serve, and the profiler samples.
// The largest class still serves over-aligned requests just below it.
inline constexpr size_t kLargeThreshold = kMaxSmallSize;
inline constexpr int kClassesPerDoubling = 8;
inline constexpr int kNumClasses = 1 + 8 + kClassesPerDoubling * 11;  // 97 incl. class 0
// The most objects moved between a thread cache and the central lists at once: long
// batches cost a copy under the central lock, and callers hold one on the stack.
inline constexpr int kMaxBatch = 64;
// Alignments up to this are served by size classes whose objects are naturally aligned
// (spans start granule-aligned); larger ones go to the large route.
inline constexpr size_t kMaxClassAlign = kGranuleSize;

// Central shards at most (HAKMEM_SHARDS).
inline constexpr int kMaxShards = 16;

// One per-class list in a thread cache. 16 bytes so that the fast path touches one line
// for head, length and limit together.
//
// `length` and `sample_countdown` share one 32-bit word (length in the low half) so that
// a pop takes one from both with a single subtract whose sign is the countdown's: the
// sampler then costs the allocation fast path no memory access of its own (see
// sampler.h). Lists never hold more than 2 * 64 objects, so length never carries over.
struct FreeList {
  void* head;                // singly linked through the first word of each free object
  uint16_t length;           // == number of objects reachable from head
  int16_t sample_countdown;  // pops of this class before the sampler's next look
  uint32_t max_length;       // 0 until the thread is set up: makes the first free go slow
};

struct Span {
  void* free_list;      // objects returned to this span, linked through their first word
  char* bump;           // next never-carved object
  char* end;            // end of the object area (last whole object)
  uint32_t used;        // objects handed out of the span
  uint32_t capacity;    // objects the span holds
  Span* next;           // in the class's partial list
  Span* prev;
  uint8_t size_class;
  uint8_t list;         // which central list holds the span: SpanList below
};

enum SpanList : uint8_t { kSpanNone = 0, kSpanPartial = 1, kSpanFull = 2 };

}  // namespace hakmem

#endif  // HAKMEM_CORE_TYPES_H_
