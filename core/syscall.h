// System calls made with the syscall instruction, not through the C library's wrappers.
// Only os.cc and vdso.cc include this.
//
// Why: what a preloaded allocator adds to every process's peak RSS includes pages of
// libc's code that the program itself never runs. The kernel maps a file's pages 64 KiB
// around each fault ("fault-around"), so the first call of a libc function that nothing
// else in the process calls brings in the 64 KiB window of libc around it, about 16
// pages counted in RSS. hakmem's mmap, madvise, mremap, clock_gettime and
// sched_getaffinity calls sat in windows of libc that a small program using glibc's
// malloc does not touch: made directly, libc's resident pages in a program making 1000
// mallocs fell from 1464 to 1336 KiB (/proc/self/pagemap; 1224 under glibc's malloc),
// and peak RSS fell 120-260 KiB on the suite's small programs (medians of 5-7 runs: cfrac
// 3356 -> 3224 KiB, espresso 4396 -> 4204; README.md, "What the preload costs a process").
// The wrappers do nothing else for us: these calls need no cancellation points, and
// failures come back as -errno here rather than through errno.
#ifndef HAKMEM_CORE_SYSCALL_H_
#define HAKMEM_CORE_SYSCALL_H_

#include <sys/syscall.h>
#include <unistd.h>

namespace hakmem {
namespace os {
namespace sys {

#if defined(__x86_64__)

// The kernel's result: >= 0, or -errno in [-4095, -1].
inline long Call6(long nr, long a, long b, long c, long d, long e, long f) {
  long ret;
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return ret;
}

#else

// Elsewhere the C library's generic syscall(2), which sets errno: turned into -errno.
long Call6(long nr, long a, long b, long c, long d, long e, long f);

#endif

inline long Call(long nr, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0,
                 long f = 0) {
  return Call6(nr, a, b, c, d, e, f);
}

inline bool Failed(long r) { return static_cast<unsigned long>(r) > -4096UL; }

}  // namespace sys
}  // namespace os
}  // namespace hakmem

#endif  // HAKMEM_CORE_SYSCALL_H_
