// Build-wide macros and the always-on CHECK. Nothing here allocates: this header is
// included by code that runs inside malloc.
#ifndef HAKMEM_CORE_BASE_H_
#define HAKMEM_CORE_BASE_H_

#include <stddef.h>
#include <stdint.h>

#include "absl/base/optimization.h"

#define HAK_INLINE inline __attribute__((always_inline))
#define HAK_NOINLINE __attribute__((noinline))
#define HAK_EXPORT extern "C" __attribute__((visibility("default")))
// On a declaration of a global the fast path reads: -fvisibility=hidden covers only
// definitions, so without it the compiler reaches an extern variable through the GOT
// (an extra load per access).
#define HAK_HIDDEN __attribute__((visibility("hidden")))
#define HAK_LIKELY(x) ABSL_PREDICT_TRUE(x)
#define HAK_UNLIKELY(x) ABSL_PREDICT_FALSE(x)

namespace hakmem {

// Prints "hakmem: fatal: <msg> (<file>:<line>)" with write(2) and aborts. Never allocates,
// so it is safe inside malloc.
[[noreturn]] void FatalError(const char* msg, const char* file, int line);

}  // namespace hakmem

// Always on: a broken allocator invariant must stop the process, not corrupt it.
#define HAK_CHECK(cond)                                                \
  do {                                                                 \
    if (HAK_UNLIKELY(!(cond))) {                                       \
      ::hakmem::FatalError("CHECK failed: " #cond, __FILE__, __LINE__); \
    }                                                                  \
  } while (0)

#ifndef NDEBUG
#define HAK_ASSERT(cond) HAK_CHECK(cond)
#else
#define HAK_ASSERT(cond) \
  do {                   \
  } while (0)
#endif

#endif  // HAKMEM_CORE_BASE_H_
