// How the test programs (stress, reliability) report: one line each on stderr, which the
// runners quote as the reason a run failed.
#ifndef HAKMEM_TESTS_TESTDATA_FAIL_H_
#define HAKMEM_TESTS_TESTDATA_FAIL_H_

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

namespace testdata {

// "<who>: <kind> <message>" as one line. Formatted into a buffer first, so that lines of
// threads reporting at once do not interleave.
inline void VLine(const char* who, const char* kind, const char* fmt, va_list ap) {
  char buf[512];
  vsnprintf(buf, sizeof buf, fmt, ap);
  fprintf(stderr, "%s: %s %s\n", who, kind, buf);
  fflush(stderr);
}

// Reports a failure and exits 1 at once: with _exit, because other threads may be inside
// the allocator, so exit handlers must not run.
[[noreturn]] inline void VFail(const char* who, const char* fmt, va_list ap) {
  fflush(stdout);  // keep the lines already printed, for diagnosis
  VLine(who, "FAIL", fmt, ap);
  _exit(1);
}

}  // namespace testdata

#endif  // HAKMEM_TESTS_TESTDATA_FAIL_H_
