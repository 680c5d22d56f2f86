#include "core/os.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>  // syscall(2), where syscall.h has no instruction of its own

#include <atomic>

#include "core/base.h"
#include "core/syscall.h"
#include "core/vdso.h"

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4  // Linux 5.7; older headers lack the name, older kernels say EINVAL
#endif

extern char** environ;

namespace hakmem {
namespace os {

#if !defined(__x86_64__)
long sys::Call6(long nr, long a, long b, long c, long d, long e, long f) {
  const long r = syscall(nr, a, b, c, d, e, f);
  return r == -1 ? -errno : r;
}
#endif

namespace {

std::atomic<uint64_t> g_mmap{0}, g_munmap{0}, g_madvise{0}, g_mremap{0};

void Count(std::atomic<uint64_t>& c) { c.fetch_add(1, std::memory_order_relaxed); }

// The kernel's calls, made directly (syscall.h says why). nullptr on failure.
void* SysMmap(void* addr, size_t size, int prot, int flags) {
  const long r = sys::Call(SYS_mmap, reinterpret_cast<long>(addr), static_cast<long>(size), prot,
                           flags, -1, 0);
  return sys::Failed(r) ? nullptr : reinterpret_cast<void*>(r);
}

long SysMadvise(void* p, size_t size, int advice) {
  return sys::Call(SYS_madvise, reinterpret_cast<long>(p), static_cast<long>(size), advice);
}

long SysMremap(void* p, size_t old_size, size_t new_size, int flags, void* to) {
  return sys::Call(SYS_mremap, reinterpret_cast<long>(p), static_cast<long>(old_size),
                   static_cast<long>(new_size), flags, reinterpret_cast<long>(to));
}

}  // namespace

long ReadFile(const char* path, char* buf, size_t cap) {
  const long fd = sys::Call(SYS_openat, AT_FDCWD, reinterpret_cast<long>(path), O_RDONLY | O_CLOEXEC);
  if (sys::Failed(fd)) return -1;
  size_t len = 0;
  while (len < cap) {
    const long r = sys::Call(SYS_read, fd, reinterpret_cast<long>(buf + len),
                             static_cast<long>(cap - len));
    if (r == -EINTR) continue;
    if (r <= 0) break;
    len += static_cast<size_t>(r);
  }
  sys::Call(SYS_close, fd);
  return static_cast<long>(len);
}

namespace {

// strstr's multiarch variants sit in yet another part of libc; the file is one line.
bool Contains(const char* s, const char* needle) {
  for (; *s != 0; ++s) {
    size_t i = 0;
    while (needle[i] != 0 && s[i] == needle[i]) ++i;
    if (needle[i] == 0) return true;
  }
  return false;
}

uint64_t ClockNs(clockid_t clock) {
  struct timespec ts;
  if (ClockGettimeFn f = VdsoClockGettime(); HAK_LIKELY(f != nullptr)) {
    f(clock, &ts);
  } else {
    sys::Call(SYS_clock_gettime, clock, reinterpret_cast<long>(&ts));
  }
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

// Keeps the `size` bytes of the fresh mapping [raw, raw + total) that start where
// start + offset falls on an `align` boundary, and unmaps the rest. Over-mapping by
// the alignment and trimming is the only portable way to get an aligned mapping;
// nothing was touched yet, so the trims only change the address range.
char* TrimToAligned(char* raw, size_t total, size_t size, size_t align, size_t offset) {
  const uintptr_t boundary =
      (reinterpret_cast<uintptr_t>(raw) + offset + align - 1) & ~(align - 1);
  char* aligned = reinterpret_cast<char*>(boundary - offset);
  const size_t head = aligned - raw;
  const size_t tail = total - head - size;
  if (head != 0) Unmap(raw, head);
  if (tail != 0) Unmap(aligned + size, tail);
  return aligned;
}

}  // namespace

void* Map(size_t size) {
  Count(g_mmap);
  // MAP_NORESERVE: untouched address space is not charged against overcommit.
  return SysMmap(nullptr, size, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE);
}

void* MapAligned(size_t size, size_t offset, bool huge_pages) {
  const size_t total = size + kHugePageBytes - 4096;
  if (total < size) return nullptr;
  char* raw = static_cast<char*>(Map(total));
  if (raw == nullptr) return nullptr;
  char* aligned = TrimToAligned(raw, total, size, kHugePageBytes, offset);
  Count(g_madvise);
  // Advice: a kernel without THP ignores it.
  SysMadvise(aligned, size, huge_pages ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
  return aligned;
}

bool HugePagesAvailable() {
  char buf[128];
  const long n = ReadFile("/sys/kernel/mm/transparent_hugepage/enabled", buf, sizeof(buf) - 1);
  if (n <= 0) return false;
  buf[n] = 0;
  // The selected mode is bracketed: "always [madvise] never".
  return Contains(buf, "[always]") || Contains(buf, "[madvise]");
}

void* ReserveAligned(size_t size, size_t align) {
  const size_t total = size + align;
  if (total < size) return nullptr;
  Count(g_mmap);
  void* m = SysMmap(nullptr, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE);
  if (m == nullptr) return nullptr;
  return TrimToAligned(static_cast<char*>(m), total, size, align, 0);
}

void Unmap(void* p, size_t size) {
  Count(g_munmap);
  sys::Call(SYS_munmap, reinterpret_cast<long>(p), static_cast<long>(size));
}

bool Commit(void* p, size_t size) {
  return sys::Call(SYS_mprotect, reinterpret_cast<long>(p), static_cast<long>(size),
                   PROT_READ | PROT_WRITE) == 0;
}

void* Remap(void* p, size_t old_size, size_t new_size) {
  Count(g_mremap);
  const long q = SysMremap(p, old_size, new_size, MREMAP_MAYMOVE, nullptr);
  return sys::Failed(q) ? nullptr : reinterpret_cast<void*>(q);
}

bool MovePages(void* from, void* to, size_t size) {
  Count(g_mremap);
  return SysMremap(from, size, size, MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP, to) ==
         reinterpret_cast<long>(to);
}

void Renew(void* p, size_t size, Advice advice) {
  Count(g_mmap);
  constexpr int kFlags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE;
  if (SysMmap(p, size, PROT_READ | PROT_WRITE, kFlags) == nullptr) {
    // Only out of kernel memory, where the range may be gone: one more try is all there is.
    Count(g_mmap);
    if (SysMmap(p, size, PROT_READ | PROT_WRITE, kFlags) == nullptr) {
      Decommit(p, size);  // if it is still there: at least its pages go back
      return;
    }
  }
  Advise(p, size, advice);
}

void Advise(void* p, size_t size, Advice advice) {
  if (advice == Advice::kNone) return;
  Count(g_madvise);
  SysMadvise(p, size, advice == Advice::kHugePages ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
}

void Decommit(void* p, size_t size) {
  Count(g_madvise);
  // MADV_DONTNEED, not MADV_FREE: RSS falls at once, which is what users of a decay
  // setting expect to see, and reuse after decay is rare by construction.
  SysMadvise(p, size, MADV_DONTNEED);
}

size_t ResidentPages(const void* p, size_t size) {
  constexpr size_t kPage = 4096;
  const uintptr_t start = reinterpret_cast<uintptr_t>(p) & ~(kPage - 1);
  const uintptr_t end = reinterpret_cast<uintptr_t>(p) + size;
  unsigned char vec[1024];  // one byte per page: 4 MiB a call, no allocation
  size_t resident = 0;
  for (uintptr_t a = start; a < end;) {
    size_t pages = (end - a + kPage - 1) / kPage;
    if (pages > sizeof(vec)) pages = sizeof(vec);
    if (sys::Call(SYS_mincore, static_cast<long>(a), static_cast<long>(pages * kPage),
                  reinterpret_cast<long>(vec)) != 0) {
      return resident;
    }
    for (size_t i = 0; i < pages; ++i) resident += vec[i] & 1;
    a += pages * kPage;
  }
  return resident;
}

uint64_t NowNs() { return ClockNs(CLOCK_MONOTONIC); }

uint64_t NowCoarseNs() { return ClockNs(CLOCK_MONOTONIC_COARSE); }

uint64_t UnixNs() { return ClockNs(CLOCK_REALTIME); }

void Yield() { sys::Call(SYS_sched_yield); }

int Pid() { return static_cast<int>(sys::Call(SYS_getpid)); }

int AllowedCpus() {
  cpu_set_t cpus;
  const long n = sys::Call(SYS_sched_getaffinity, 0, sizeof(cpus), reinterpret_cast<long>(&cpus));
  if (sys::Failed(n)) return 1;
  int count = 0;  // the kernel wrote n bytes of mask; the rest of `cpus` is garbage
  const auto* bytes = reinterpret_cast<const unsigned char*>(&cpus);
  for (long i = 0; i < n; ++i) count += __builtin_popcount(bytes[i]);
  return count > 0 ? count : 1;
}

void WriteStderr(const char* s, size_t n) {
  while (n > 0) {
    const long w = sys::Call(SYS_write, 2, reinterpret_cast<long>(s), static_cast<long>(n));
    if (w == -EINTR) continue;
    if (w <= 0) return;
    s += w;
    n -= static_cast<size_t>(w);
  }
}

namespace {

// A copy of /proc/self/environ, read once when needed. Static storage: never malloc.
char g_environ_copy[64 * 1024];
size_t g_environ_len = 0;
std::atomic<bool> g_environ_loaded{false};

const char* GetEnvFromProc(const char* name) {
  if (!g_environ_loaded.load(std::memory_order_acquire)) {
    const long r = ReadFile("/proc/self/environ", g_environ_copy, sizeof(g_environ_copy) - 1);
    const size_t len = r > 0 ? static_cast<size_t>(r) : 0;
    g_environ_copy[len] = '\0';
    g_environ_len = len;
    g_environ_loaded.store(true, std::memory_order_release);
  }
  const size_t nlen = strlen(name);
  for (size_t i = 0; i < g_environ_len;) {
    const char* entry = g_environ_copy + i;
    const size_t elen = strlen(entry);
    if (elen > nlen && memcmp(entry, name, nlen) == 0 && entry[nlen] == '=') {
      return entry + nlen + 1;
    }
    i += elen + 1;
  }
  return nullptr;
}

}  // namespace

const char* GetEnv(const char* name) {
  if (environ != nullptr) {
    const size_t nlen = strlen(name);
    for (char** e = environ; *e != nullptr; ++e) {
      if (strncmp(*e, name, nlen) == 0 && (*e)[nlen] == '=') return *e + nlen + 1;
    }
    return nullptr;
  }
  return GetEnvFromProc(name);
}

Counters GetCounters() {
  return Counters{g_mmap.load(std::memory_order_relaxed), g_munmap.load(std::memory_order_relaxed),
                  g_madvise.load(std::memory_order_relaxed),
                  g_mremap.load(std::memory_order_relaxed)};
}

}  // namespace os
}  // namespace hakmem
