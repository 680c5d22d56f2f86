// Fuzzes the allocation API as programs call it: the input is a program of up to 256
// steps over 16 slots, each step one of malloc, calloc, realloc, reallocarray, memalign,
// posix_memalign, aligned_alloc, free, operator new and sized delete (plain and aligned)
// or hak_release_memory, with sizes (every size class, the 64 KiB / 256 KiB / 4 MiB band
// edges, huge and overflowing requests) and alignments (powers of two up to 4 MiB, and
// invalid ones) drawn from the input. After every step: the block is aligned as its
// function promises, malloc_usable_size covers the request and all of it is writable,
// calloc's memory is zero, realloc kept the old contents, errors are the documented NULL
// and errno (or result code); and every live block still holds its own fill pattern, so
// two blocks that overlap, or a block that a free or release scribbled on, is found.
//
// The allocator is linked as the program's malloc (//core:hakmem_static), so this target
// runs without ASan, whose runtime would have to own malloc: libFuzzer's coverage and the
// checks here are the oracle (--config=fuzz_alloc; README.md "Sanitizers and fuzzing").
#include <errno.h>
#include <malloc.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <new>

#include "core/hakmem.h"

namespace {

constexpr int kSlots = 16;
constexpr int kMaxSteps = 128;

enum class Kind : uint8_t { kFree, kMalloc, kNew, kNewAligned };

struct Slot {
  unsigned char* p;
  size_t size;    // requested (what sized delete is given)
  size_t usable;  // malloc_usable_size: all of it is filled and checked
  size_t align;   // for kNewAligned (its delete must be given it)
  uint8_t seed;   // the fill pattern's
  Kind kind;
};

Slot g_slots[kSlots];
int g_step;

[[noreturn]] void Fail(const char* what, int slot, size_t size, size_t align) {
  fprintf(stderr, "malloc_fuzz: step %d: %s (slot %d, size %zu, alignment %zu)\n", g_step, what,
          slot, size, align);
  abort();
}

// The input, read as little-endian numbers; zeros once it runs out.
struct Input {
  const uint8_t* p;
  size_t n;
  uint8_t Byte() {
    if (n == 0) return 0;
    --n;
    return *p++;
  }
  uint32_t U16() { return Byte() | static_cast<uint32_t>(Byte()) << 8; }
  uint32_t U24() { return U16() | static_cast<uint32_t>(Byte()) << 16; }
};

// Sizes where the allocator's paths change, and requests no allocator can serve.
size_t Size(Input& in) {
  const uint8_t how = in.Byte();
  const uint32_t x = in.U24();
  // Mostly the sizes programs use most; megabytes, whose every fresh page faults, rarely.
  switch (how % 32) {
    case 0: case 1: case 2: case 3: case 4: case 5: return x % 65;        // tiny, and 0
    case 6: case 7: case 8: case 9: case 10: case 11: return x % 2049;    // small classes
    case 12: case 13: case 14: case 15: case 16: return x % (65 << 10);   // classes to 64 KiB
    case 17: case 18: case 19: return (64 << 10) - 256 + x % 512;         // the route's threshold
    case 20: case 21: case 22: case 23: return x % (256 << 10);           // the middle band
    case 24: case 25: return (256 << 10) - 256 + x % 512;                 // the large band's edge
    case 26: return x % (1 << 20);                                         // the large band
    case 27: return (4 << 20) - 4096 + x % 8192;                          // the huge band's edge
    case 28: return x % (6 << 20);                                         // up to 6 MiB
    default: {
      static const size_t kHuge[] = {SIZE_MAX, SIZE_MAX - 4095, SIZE_MAX / 2,
                                     size_t{PTRDIFF_MAX} + 1, size_t{1} << 47, 0};
      return kHuge[x % 6];
    }
  }
}

size_t Align(Input& in) {
  const uint8_t a = in.Byte();
  if (a >= 0xf0) return static_cast<size_t>(a & 0x0f) * 24 + 3;  // not a power of two
  return size_t{1} << (a % 23);                                   // 1 .. 4 MiB
}

// Requests that must be served, and requests that must fail with ENOMEM (more than the
// address space). Between the two (products of calloc and reallocarray), either is right,
// and the step is skipped: touching such blocks would take the fuzzer's time.
bool Reasonable(size_t size) { return size <= (size_t{8} << 20); }
bool Impossible(size_t size) { return size >= (size_t{1} << 47); }

// The byte at offset i of a block filled with `seed`.
inline unsigned char Pattern(uint8_t seed, size_t i) {
  return static_cast<unsigned char>(seed + (i >> 12) * 131 + i * 7);
}

// Calls fn(offset) for the offsets that are filled and checked: every byte of a block up
// to 1 KiB; beyond that its first and last 512 bytes and, between them, every 509th byte
// up to 256 KiB and every 65521st beyond (prime strides, so page and cache-line
// boundaries shift). Blocks that overlap by any real amount share checked bytes; a pass
// over every page of megabytes at every step would leave the fuzzer no time to explore.
template <typename Fn>
void ForOffsets(size_t n, Fn fn) {
  if (n <= 1024) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  const size_t stride = n <= (256 << 10) ? 509 : 65521;
  for (size_t i = 0; i < 512; ++i) fn(i);
  for (size_t i = 512; i < n - 512; i += stride) fn(i);
  for (size_t i = n - 512; i < n; ++i) fn(i);
}

void Fill(unsigned char* p, size_t n, uint8_t seed) {
  ForOffsets(n, [&](size_t i) { p[i] = Pattern(seed, i); });
}

// Whether a block filled over `filled` bytes still holds the pattern in its first `n`.
bool Holds(const unsigned char* p, size_t filled, uint8_t seed, size_t n = SIZE_MAX) {
  bool ok = true;
  ForOffsets(filled, [&](size_t i) { ok &= i >= n || p[i] == Pattern(seed, i); });
  return ok;
}

// A new block in slot s: aligned, usable for at least `size`, and writable to its end.
void Adopt(int s, void* p, size_t size, size_t align, Kind kind, uint8_t seed) {
  if (reinterpret_cast<uintptr_t>(p) % align != 0) Fail("misaligned", s, size, align);
  if (reinterpret_cast<uintptr_t>(p) % 16 != 0) Fail("not 16-byte aligned", s, size, align);
  const size_t usable = malloc_usable_size(p);
  if (usable < size) Fail("malloc_usable_size below the request", s, size, align);
  if (usable > size + (size_t{1} << 30)) Fail("malloc_usable_size absurd", s, size, align);
  // All of the usable size is the caller's: write its end too (a block's neighbour or
  // the allocator's metadata there would be found by the pattern checks).
  unsigned char* c = static_cast<unsigned char*>(p);
  g_slots[s] = Slot{c, size, usable, align, seed, kind};
  Fill(c, usable, seed);
}

void Release(int s) {
  Slot& slot = g_slots[s];
  if (slot.p == nullptr) return;
  if (!Holds(slot.p, slot.usable, slot.seed)) Fail("a block changed while it was live", s, slot.size, 0);
  switch (slot.kind) {
    case Kind::kNew: ::operator delete(slot.p, slot.size); break;  // sized: the usable size
    case Kind::kNewAligned:
      ::operator delete(slot.p, slot.size, static_cast<std::align_val_t>(slot.align));
      break;
    default: free(slot.p); break;
  }
  slot = Slot{};
}

void ExpectFailure(int s, void* p, int err, int want, size_t size, size_t align) {
  if (p != nullptr) Fail("an impossible request succeeded", s, size, align);
  if (err != want) Fail(want == ENOMEM ? "errno is not ENOMEM" : "errno is not EINVAL", s, size, align);
}

void CheckAllLive() {
  for (int s = 0; s < kSlots; ++s) {
    const Slot& slot = g_slots[s];
    if (slot.p == nullptr) continue;
    if (!Holds(slot.p, slot.usable, slot.seed)) Fail("a live block changed", s, slot.size, 0);
    if (malloc_usable_size(slot.p) != slot.usable) Fail("usable size changed", s, slot.size, 0);
  }
}

void Step(Input& in) {
  const uint8_t op = in.Byte();
  const int s = in.Byte() % kSlots;
  const uint8_t seed = static_cast<uint8_t>(g_step * 29 + s);
  Slot& slot = g_slots[s];
  switch (op % 13) {
    case 0: {  // malloc
      Release(s);
      const size_t size = Size(in);
      errno = 0;
      void* p = malloc(size);
      if (Impossible(size)) return ExpectFailure(s, p, errno, ENOMEM, size, 1);
      if (p == nullptr) Fail("malloc failed", s, size, 1);
      return Adopt(s, p, size, 16, Kind::kMalloc, seed);
    }
    case 1: {  // calloc, with products that overflow
      Release(s);
      const size_t n = in.Byte() % 4 == 0 ? Size(in) : in.U16() % 300;
      const size_t each = Size(in);
      size_t total;
      const bool overflow = __builtin_mul_overflow(n, each, &total);
      errno = 0;
      if (!overflow && !Reasonable(total) && !Impossible(total)) return;  // either is right
      void* p = calloc(n, each);
      if (overflow || Impossible(total)) return ExpectFailure(s, p, errno, ENOMEM, total, 1);
      if (p == nullptr) Fail("calloc failed", s, total, 1);
      const unsigned char* c = static_cast<unsigned char*>(p);
      bool zero = true;
      ForOffsets(total, [&](size_t i) { zero &= c[i] == 0; });
      if (!zero) Fail("calloc's memory is not zero", s, total, 1);
      return Adopt(s, p, total, 16, Kind::kMalloc, seed);
    }
    case 2:    // realloc
    case 3: {  // reallocarray
      if (slot.kind == Kind::kNew || slot.kind == Kind::kNewAligned) Release(s);
      size_t size;
      bool overflow = false;
      errno = 0;
      void* p;
      if (op % 13 == 2) {
        size = Size(in);
        p = realloc(slot.p, size);
      } else {
        const size_t n = in.U16() % 600, each = Size(in);
        overflow = __builtin_mul_overflow(n, each, &size);
        if (!overflow && !Reasonable(size) && !Impossible(size)) return;  // either is right
        p = reallocarray(slot.p, n, each);
      }
      if (overflow || Impossible(size)) {
        ExpectFailure(s, p, errno, ENOMEM, size, 1);
        // The old block is untouched and still the caller's.
        if (slot.p != nullptr && !Holds(slot.p, slot.usable, slot.seed)) {
          Fail("a failed realloc changed the block", s, size, 1);
        }
        return;
      }
      if (p == nullptr) {
        if (size == 0) {  // realloc(p, 0) frees p (glibc's behaviour)
          slot = Slot{};
          return;
        }
        Fail("realloc failed", s, size, 1);
      }
      // The old contents up to the smaller of the two requests (the standard's promise).
      const size_t kept = slot.p == nullptr ? 0 : (slot.size < size ? slot.size : size);
      if (kept > 0 && !Holds(static_cast<unsigned char*>(p), slot.usable, slot.seed, kept)) {
        Fail("realloc lost the contents", s, size, 1);
      }
      slot = Slot{};
      return Adopt(s, p, size, 16, Kind::kMalloc, seed);
    }
    case 4:    // memalign: a non-power of two rounds up
    case 5:    // posix_memalign: EINVAL for a non-power of two or below sizeof(void*)
    case 6: {  // aligned_alloc: EINVAL for a non-power of two
      Release(s);
      const size_t align = Align(in);
      const size_t size = Size(in);
      const bool pow2 = (align & (align - 1)) == 0;
      void* p = nullptr;
      errno = 0;
      if (op % 13 == 5) {
        const int r = posix_memalign(&p, align, size);
        if (!pow2 || align % sizeof(void*) != 0) {
          if (r != EINVAL) Fail("posix_memalign accepted a bad alignment", s, size, align);
          return;
        }
        if (Impossible(size)) {
          if (r != ENOMEM) Fail("posix_memalign did not say ENOMEM", s, size, align);
          return;
        }
        if (r != 0 || p == nullptr) Fail("posix_memalign failed", s, size, align);
        return Adopt(s, p, size, align, Kind::kMalloc, seed);
      }
      size_t want_align = align;
      if (op % 13 == 4) {
        p = memalign(align, size);
        while (want_align & (want_align - 1)) want_align += want_align & -want_align;
      } else {
        p = aligned_alloc(align, size);
        if (!pow2) return ExpectFailure(s, p, errno, EINVAL, size, align);
      }
      if (Impossible(size)) return ExpectFailure(s, p, errno, ENOMEM, size, align);
      if (p == nullptr) Fail("an aligned allocation failed", s, size, align);
      return Adopt(s, p, size, want_align, Kind::kMalloc, seed);
    }
    case 7:  // free (of NULL too)
      Release(s);
      if (slot.p == nullptr) free(nullptr);
      return;
    case 8: {  // operator new, nothrow for impossible sizes
      Release(s);
      const size_t size = Size(in);
      if (Impossible(size)) {
        void* p = ::operator new(size, std::nothrow);
        if (p != nullptr) Fail("operator new(nothrow) served an impossible size", s, size, 1);
        return;
      }
      return Adopt(s, ::operator new(size), size, 16, Kind::kNew, seed);
    }
    case 9: {  // aligned operator new
      Release(s);
      size_t align = Align(in);
      if (align & (align - 1)) align = 64;  // std::align_val_t must be a power of two
      const size_t size = Size(in);
      if (Impossible(size)) {
        void* p = ::operator new(size, static_cast<std::align_val_t>(align), std::nothrow);
        if (p != nullptr) Fail("aligned operator new(nothrow) served an impossible size", s, size, align);
        return;
      }
      return Adopt(s, ::operator new(size, static_cast<std::align_val_t>(align)), size, align,
                   Kind::kNewAligned, seed);
    }
    case 10:  // sized delete (or free) of whatever the slot holds
      Release(s);
      return;
    case 11: {  // realloc in place, as programs grow buffers: a little more or less
      if (slot.p == nullptr || slot.kind != Kind::kMalloc) return;
      const size_t delta = in.U16();
      const size_t size = in.Byte() % 2 ? slot.usable + delta : slot.usable - delta % (slot.usable + 1);
      void* p = realloc(slot.p, size);
      if (p == nullptr) {
        if (size == 0) {
          slot = Slot{};
          return;
        }
        Fail("realloc failed", s, size, 1);
      }
      const size_t kept = slot.size < size ? slot.size : size;
      if (!Holds(static_cast<unsigned char*>(p), slot.usable, slot.seed, kept)) {
        Fail("realloc lost the contents", s, size, 1);
      }
      slot = Slot{};
      return Adopt(s, p, size, 16, Kind::kMalloc, seed);
    }
    default:  // every idle byte back to the OS: live blocks must not notice
      hak_release_memory();
      return;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in{data, size};
  for (g_step = 0; g_step < kMaxSteps && in.n > 0; ++g_step) {
    Step(in);
    CheckAllLive();
  }
  for (int s = 0; s < kSlots; ++s) Release(s);
  return 0;
}
