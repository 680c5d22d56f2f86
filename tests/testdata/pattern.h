// Deterministic contents for test blocks, shared by the reliability program and its
// plugin: a block's bytes depend only on its id and their offset, so any thread (or a
// library unloaded since) can check a block it did not allocate, and a grown or shrunk
// block's kept prefix against the same pattern.
#ifndef HAKMEM_TESTS_TESTDATA_PATTERN_H_
#define HAKMEM_TESTS_TESTDATA_PATTERN_H_

#include <stddef.h>
#include <stdint.h>
#include <string.h>

namespace pattern {

inline uint64_t Mix(uint64_t x) {  // splitmix64's finalizer
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(Mix(seed)) {}
  uint64_t Next() { return s = Mix(s); }
  uint64_t Below(uint64_t n) { return Next() % n; }
};

constexpr uint64_t kStride = 0xD6E8FEB86659FD93ull;

// Writes the pattern of block `id` over n bytes. Large blocks are written one word per
// 4 KiB page past their first 64 KiB (and their last word): enough to catch two blocks
// sharing a page or a lost realloc, without the test spending its time in memset.
inline void Fill(void* p, size_t n, uint64_t id) {
  unsigned char* b = static_cast<unsigned char*>(p);
  const uint64_t seed = Mix(id);
  const size_t dense = n < 65536 ? n : 65536;
  size_t i = 0;
  for (; i + 8 <= dense; i += 8) {
    const uint64_t w = seed + (i / 8) * kStride;
    __builtin_memcpy(b + i, &w, 8);
  }
  for (; i < dense; ++i) b[i] = static_cast<unsigned char>((seed + (i / 8) * kStride) >> (8 * (i % 8)));
  for (size_t j = 65536; j + 8 <= n; j += 4096) {
    const uint64_t w = seed + (j / 8) * kStride;
    __builtin_memcpy(b + j, &w, 8);
  }
  if (n > 65536 && n >= 8) {
    const size_t j = (n - 8) & ~size_t{7};
    const uint64_t w = seed + (j / 8) * kStride;
    __builtin_memcpy(b + j, &w, 8);
  }
}

// (__builtin_memcpy: the tests build with -fno-builtin, which would make every 8-byte copy
// a call.)

// The offset of the first byte of the first n that differs from Fill(id) over `filled`
// bytes (n <= filled: the kept prefix of a block that was Fill()ed at `filled` bytes),
// or SIZE_MAX.
inline size_t FirstBad(const void* p, size_t n, uint64_t id, size_t filled) {
  const unsigned char* b = static_cast<const unsigned char*>(p);
  const uint64_t seed = Mix(id);
  const size_t dense = n < 65536 ? n : 65536;
  size_t i = 0;
  for (; i + 8 <= dense; i += 8) {
    uint64_t w;
    __builtin_memcpy(&w, b + i, 8);
    if (w != seed + (i / 8) * kStride) break;
  }
  for (; i < dense; ++i) {
    if (b[i] != static_cast<unsigned char>((seed + (i / 8) * kStride) >> (8 * (i % 8)))) return i;
  }
  for (size_t j = 65536; j + 8 <= n; j += 4096) {
    uint64_t w;
    __builtin_memcpy(&w, b + j, 8);
    if (w != seed + (j / 8) * kStride) return j;
  }
  if (filled > 65536 && filled >= 8) {
    const size_t j = (filled - 8) & ~size_t{7};
    if (j + 8 <= n) {
      uint64_t w;
      __builtin_memcpy(&w, b + j, 8);
      if (w != seed + (j / 8) * kStride) return j;
    }
  }
  return SIZE_MAX;
}

inline size_t FirstBad(const void* p, size_t n, uint64_t id) { return FirstBad(p, n, id, n); }

}  // namespace pattern

#endif  // HAKMEM_TESTS_TESTDATA_PATTERN_H_
