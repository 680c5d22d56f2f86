// The checking build (`bazel build --config=check`, which defines HAKMEM_CHECK=1): it
// aborts, after one line on stderr naming the block, on
// - a double free of a small block (a freed block carries a mark in its second word,
//   cleared when it is handed out again);
// - a free of a pointer hakmem never handed out, or a second free of a mapped block;
// - a write past the requested end of a mapped block (64 guard bytes after it, checked
//   at free and realloc; malloc_usable_size then reports the requested size, so that a
//   program writing what it was told it may still passes).
// A compile-time build rather than a setting: the fast path's pop and push stay what
// they are in the normal build (no flag to load and test on every free), so turning
// checks off costs nothing. In the normal build every function here is empty.
#ifndef HAKMEM_CORE_CHECK_H_
#define HAKMEM_CORE_CHECK_H_

#include <stddef.h>
#include <stdint.h>

#include "core/base.h"

#ifndef HAKMEM_CHECK
#define HAKMEM_CHECK 0
#endif

namespace hakmem {

inline constexpr bool kChecking = HAKMEM_CHECK != 0;
// Guard bytes after a mapped block's requested end (checking build only).
inline constexpr size_t kGuardBytes = kChecking ? 64 : 0;
inline constexpr uint8_t kGuardByte = 0xA5;

// Prints "hakmem: check: WHAT P (N bytes)" and aborts.
[[noreturn]] void CheckFailed(const char* what, const void* p, size_t size);

HAK_INLINE uintptr_t FreedMark(const void* p) {
  return 0x6861636b66726565ull ^ reinterpret_cast<uintptr_t>(p);  // "hackfree"
}

// A small block handed out: no longer marked free.
HAK_INLINE void* CheckHandOut(void* p) {
  if constexpr (kChecking) {
    if (p != nullptr) static_cast<uintptr_t*>(p)[1] = 0;
  }
  return p;
}

// A small block of `size` bytes coming back: a second free of it aborts.
HAK_INLINE void CheckSmallFree(void* p, size_t size) {
  if constexpr (kChecking) {
    uintptr_t* w = static_cast<uintptr_t*>(p);
    if (w[1] == FreedMark(p)) CheckFailed("double free of", p, size);
    w[1] = FreedMark(p);
  }
}

// The guard after a mapped block's `size` bytes at p: written at allocation and resize,
// verified at free and resize. (Out of line in the checking build; nothing, not even a
// call, in the normal one.)
void WriteGuard(void* p, size_t size);
void VerifyGuard(const void* p, size_t size);
HAK_INLINE void CheckWriteGuard(void* p, size_t size) {
  if constexpr (kChecking) WriteGuard(p, size);
}
HAK_INLINE void CheckVerifyGuard(const void* p, size_t size) {
  if constexpr (kChecking) VerifyGuard(p, size);
}

}  // namespace hakmem

#endif  // HAKMEM_CORE_CHECK_H_
