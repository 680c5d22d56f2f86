// The platform layer: the only file that talks to the kernel (mmap, madvise, clock,
// environment, stderr). Everything above it calls these, so tests can reason about
// syscalls in one place and a port touches one file. It makes its calls with the syscall
// instruction and reads the clock from the vDSO, not through libc's wrappers: each libc
// function a program would not call otherwise costs it a 64 KiB window of libc's code in
// RSS (syscall.h).
#ifndef HAKMEM_CORE_OS_H_
#define HAKMEM_CORE_OS_H_

#include <stddef.h>
#include <stdint.h>

namespace hakmem {
namespace os {

// Maps `size` bytes of zeroed, read-write memory. Returns nullptr on failure. Untouched
// pages cost no memory.
void* Map(size_t size);
// The transparent huge page of x86-64 (and of arm64 with 4 KiB pages).
inline constexpr size_t kHugePageBytes = size_t{2} << 20;
// As Map, but placed so that the address `offset` bytes in (a multiple of 4 KiB, under
// kHugePageBytes) is on a huge-page boundary, and advised: with `huge_pages`, to use
// transparent huge pages (MADV_HUGEPAGE), so that touching it faults in 2 MiB at a time
// instead of 4 KiB (one fault per 512 pages); without, never to (MADV_NOHUGEPAGE, which
// matters where the kernel's THP mode is "always"). Costs an over-map, up to two trims and
// the advice.
void* MapAligned(size_t size, size_t offset, bool huge_pages);
// Whether the kernel gives advised mappings transparent huge pages (its mode, in
// /sys/kernel/mm/transparent_hugepage/enabled, is madvise or always); false where the
// file is missing or unreadable. Reads the file: call it once, at start-up.
bool HugePagesAvailable();
// Reserves address space (PROT_NONE, no commit charge) aligned to `align`; nullptr on
// failure. Make parts usable with mprotect.
void* ReserveAligned(size_t size, size_t align);
void Unmap(void* p, size_t size);
// Makes [p, p + size), inside a reservation, readable and writable; false on failure.
bool Commit(void* p, size_t size);
// Grows or shrinks a mapping, moving it if needed; nullptr on failure (old mapping intact).
void* Remap(void* p, size_t old_size, size_t new_size);
// Moves the pages of [from, from + size) to `to` (the range there is replaced), without
// copying or faulting: page-table entries move. `from` stays mapped and reads as zero
// after, as if decommitted. Both ranges in private anonymous mappings, page-aligned.
// False if the kernel refuses (before Linux 5.7; a `from` over several mappings before
// 6.17; at the process's mapping-count limit): nothing has moved then, but `to` may be
// unmapped (MREMAP_FIXED clears it first): Renew it.
bool MovePages(void* from, void* to, size_t size);
// How a mapping was advised: Map gives kNone, MapAligned one of the others.
enum class Advice { kNone, kHugePages, kNoHugePages };
// Replaces [p, p + size), inside one of our mappings, with fresh zeroed memory (no pages)
// in place, advised as that mapping was, so that it merges back with neighbours mapped the
// same way: what a move left as a mapping of its own becomes one with the region again.
// No gap opens: MAP_FIXED replaces atomically.
void Renew(void* p, size_t size, Advice advice);
// Advises [p, p + size), inside one of our mappings, for transparent huge pages or
// against them (madvise; the kernel splits and merges mappings to match). Pages already
// there stay as they are: the advice is for the faults to come.
void Advise(void* p, size_t size, Advice advice);
// Pages of [p, p + size) that are resident (mincore); 0 if that cannot be told.
size_t ResidentPages(const void* p, size_t size);
// Gives the physical pages back; the range stays mapped and reads as zero afterwards.
void Decommit(void* p, size_t size);

uint64_t NowNs();  // CLOCK_MONOTONIC
uint64_t UnixNs();  // CLOCK_REALTIME: nanoseconds since the Unix epoch
// CLOCK_MONOTONIC_COARSE: a few ms resolution at a sixth of the cost (4 ns against 26 ns
// on kvm-clock, measured). For decay and cache ages, whose periods are 100s of ms.
uint64_t NowCoarseNs();

// sched_yield(2).
void Yield();
// getpid(2).
int Pid();
// CPUs this thread may run on (sched_getaffinity(2)); 1 if that cannot be told.
int AllowedCpus();

// Reads up to `cap` bytes of the file at `path` into `buf` (to its end or `cap`, retrying
// interrupted reads); the bytes read, or -1 if it cannot be opened. Never allocates.
long ReadFile(const char* path, char* buf, size_t cap);

// Writes to stderr with write(2): never allocates, safe inside malloc.
void WriteStderr(const char* s, size_t n);

// Returns the value of an environment variable at start-up, or nullptr. Reads
// /proc/self/environ when the C library has not set up `environ` yet (a preloaded
// allocator may be called that early). The result may point into the environment block,
// which programs that set their process title overwrite: copy it before returning
// (options.cc does, once, at start-up).
const char* GetEnv(const char* name);

// Syscall counters, for tests and the exit report.
struct Counters {
  uint64_t mmap_calls, munmap_calls, madvise_calls, mremap_calls;
};
Counters GetCounters();

}  // namespace os
}  // namespace hakmem

#endif  // HAKMEM_CORE_OS_H_
