// The kernel's vDSO, found without the C library: its clock_gettime, which reads the
// clock in user space (no system call), as libc's wrapper would call it.
//
// Why not libc's clock_gettime: its code sits in a 64 KiB window of libc that a program
// using glibc's malloc may never touch, and the first call faults that window into the
// process's RSS (syscall.h says more). The vDSO is in every process already.
#ifndef HAKMEM_CORE_VDSO_H_
#define HAKMEM_CORE_VDSO_H_

#include <time.h>

namespace hakmem {
namespace os {

using ClockGettimeFn = int (*)(clockid_t, struct timespec*);

// The vDSO's clock_gettime, or nullptr where the process has no vDSO (valgrind hides it)
// or /proc/self/auxv cannot be read. Looked up once; thread-safe; never allocates.
ClockGettimeFn VdsoClockGettime();

// The address of the defined function `name` in the ELF shared object mapped at `image`
// (its first byte: the ELF header), or nullptr. Reads only the dynamic symbol table:
// the vDSO has no section headers worth trusting. Exposed for tests.
void* FindElfFunction(const void* image, const char* name);

}  // namespace os
}  // namespace hakmem

#endif  // HAKMEM_CORE_VDSO_H_
