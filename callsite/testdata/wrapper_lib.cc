// A two-level allocation wrapper in a shared library, as programs build them (zmalloc,
// sqlite3Malloc, g_malloc): every allocation of wrapper_main goes through here, so the
// allocation call's return address is the same for all of them.
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

extern "C" {

// The inner level: the one that calls malloc. noinline and no tail calls, so both levels
// are frames of their own, as in an optimized wrapper with work after the call.
__attribute__((noinline)) void* wrap_inner(size_t n) {
  void* p = malloc(n);
  if (p != nullptr) memset(p, 0, n < 64 ? n : 64);
  asm volatile("" ::: "memory");
  return p;
}

__attribute__((noinline)) void* wrap_alloc(size_t n) {
  void* p = wrap_inner(n);
  asm volatile("" ::: "memory");
  return p;
}

void wrap_free(void* p) { free(p); }

}  // extern "C"
