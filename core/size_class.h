// Size classes: 16..128 bytes in steps of 16, then eight classes per doubling up to
// kMaxSmallSize. Eight per doubling bounds internal waste by 1/8 of the class size for
// every size above 128; below 128 the 16-byte alignment malloc owes its callers (the
// x86-64 max_align_t) is what bounds it, at under 16 bytes.
#ifndef HAKMEM_CORE_SIZE_CLASS_H_
#define HAKMEM_CORE_SIZE_CLASS_H_

#include <stddef.h>
#include <stdint.h>

#include "core/base.h"
#include "core/types.h"

namespace hakmem {

namespace size_class_internal {

constexpr size_t ComputeClassSize(int c) {
  if (c <= 0) return 0;
  if (c <= 8) return static_cast<size_t>(c) * 16;
  const int k = 7 + (c - 9) / kClassesPerDoubling;  // doubling that starts at 2^k
  const int j = 1 + (c - 9) % kClassesPerDoubling;
  return (size_t{1} << k) + static_cast<size_t>(j) * ((size_t{1} << k) / kClassesPerDoubling);
}

struct Tables {
  uint32_t size[kNumClasses];
  uint8_t span_shift[kNumClasses];
  uint16_t batch[kNumClasses];
  uint8_t small_class[65];  // class of sizes 0..1024, indexed by (size + 15) >> 4
};

constexpr Tables MakeTables() {
  Tables t{};
  for (int c = 0; c < kNumClasses; ++c) {
    const size_t s = ComputeClassSize(c);
    t.size[c] = static_cast<uint32_t>(s);
    // A span holds at least eight objects so that one long-lived object pins little.
    int shift = kGranuleShift;
    while ((size_t{1} << shift) < 8 * s) ++shift;
    t.span_shift[c] = static_cast<uint8_t>(shift);
    // Objects moved between a thread cache and the central list at once: 64 KiB worth,
    // at most kMaxBatch, at least 1.
    size_t b = s == 0 ? 1 : (64 * 1024) / s;
    if (b > kMaxBatch) b = kMaxBatch;
    if (b < 1) b = 1;
    t.batch[c] = static_cast<uint16_t>(b);
  }
  for (int i = 0; i <= 64; ++i) {
    const size_t size = static_cast<size_t>(i) * 16;
    int c = 1;
    while (ComputeClassSize(c) < size) ++c;
    t.small_class[i] = static_cast<uint8_t>(c);
  }
  return t;
}

inline constexpr Tables kTables = MakeTables();
static_assert(ComputeClassSize(kNumClasses - 1) == kMaxSmallSize, "class table mismatch");
static_assert(ComputeClassSize(9) == 144 && ComputeClassSize(16) == 256, "class table mismatch");

}  // namespace size_class_internal

inline constexpr size_t kMaxTableSize = 1024;

// Class of a request of `size` bytes, for size <= kMaxTableSize: one table load.
HAK_INLINE int TableSizeToClass(size_t size) {
  return size_class_internal::kTables.small_class[(size + 15) >> 4];
}

// Class of a request of `size` bytes, for size <= kMaxSmallSize. Class 1 serves size 0.
HAK_INLINE int SizeToClass(size_t size) {
  if (HAK_LIKELY(size <= kMaxTableSize)) return TableSizeToClass(size);
  const size_t s = size - 1;
  const int k = 63 - __builtin_clzll(s);  // size is in (2^k, 2^(k+1)]
  return 9 + (k - 7) * kClassesPerDoubling + static_cast<int>((s - (size_t{1} << k)) >> (k - 3));
}

HAK_INLINE size_t ClassSize(int c) { return size_class_internal::kTables.size[c]; }
HAK_INLINE int SpanShift(int c) { return size_class_internal::kTables.span_shift[c]; }

// Whether realloc to `size` keeps a block of a class of `class_size` bytes where it is:
// it still fits, and it is not more than twice too big (below 32 bytes, always).
HAK_INLINE bool ReallocStaysInClass(size_t size, size_t class_size) {
  return size <= class_size && (size > class_size / 2 || class_size <= 32);
}
HAK_INLINE int BatchSize(int c) { return size_class_internal::kTables.batch[c]; }

// Smallest class that serves `size` bytes at `align` (a power of two, 16 < align <=
// kMaxClassAlign): object offsets inside a span are multiples of the class size from a
// granule-aligned start, so a class whose size is a multiple of `align` is aligned.
// Returns 0 if no class fits.
int AlignedSizeToClass(size_t size, size_t align);

}  // namespace hakmem

#endif  // HAKMEM_CORE_SIZE_CLASS_H_
