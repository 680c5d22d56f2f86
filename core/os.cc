#include "core/os.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <atomic>

#include "core/base.h"

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4  // Linux 5.7; older headers lack the name, older kernels say EINVAL
#endif

extern char** environ;

namespace hakmem {
namespace os {
namespace {

std::atomic<uint64_t> g_mmap{0}, g_munmap{0}, g_madvise{0}, g_mremap{0};

void Count(std::atomic<uint64_t>& c) { c.fetch_add(1, std::memory_order_relaxed); }

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
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

void* MapAligned(size_t size, size_t offset, bool huge_pages) {
  const size_t total = size + kHugePageBytes - 4096;
  if (total < size) return nullptr;
  char* raw = static_cast<char*>(Map(total));
  if (raw == nullptr) return nullptr;
  char* aligned = TrimToAligned(raw, total, size, kHugePageBytes, offset);
  Count(g_madvise);
  // Advice: a kernel without THP ignores it.
  madvise(aligned, size, huge_pages ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
  return aligned;
}

bool HugePagesAvailable() {
  const int fd = open("/sys/kernel/mm/transparent_hugepage/enabled", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[128];
  const ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return false;
  buf[n] = 0;
  // The selected mode is bracketed: "always [madvise] never".
  return strstr(buf, "[always]") != nullptr || strstr(buf, "[madvise]") != nullptr;
}

void* ReserveAligned(size_t size, size_t align) {
  const size_t total = size + align;
  if (total < size) return nullptr;
  Count(g_mmap);
  void* m = mmap(nullptr, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED) return nullptr;
  return TrimToAligned(static_cast<char*>(m), total, size, align, 0);
}

void Unmap(void* p, size_t size) {
  Count(g_munmap);
  munmap(p, size);
}

void* Remap(void* p, size_t old_size, size_t new_size) {
  Count(g_mremap);
  void* q = mremap(p, old_size, new_size, MREMAP_MAYMOVE);
  return q == MAP_FAILED ? nullptr : q;
}

bool MovePages(void* from, void* to, size_t size) {
  Count(g_mremap);
  return mremap(from, size, size, MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP, to) == to;
}

void Renew(void* p, size_t size, Advice advice) {
  Count(g_mmap);
  constexpr int kFlags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE;
  if (mmap(p, size, PROT_READ | PROT_WRITE, kFlags, -1, 0) == MAP_FAILED) {
    // Only out of kernel memory, where the range may be gone: one more try is all there is.
    Count(g_mmap);
    if (mmap(p, size, PROT_READ | PROT_WRITE, kFlags, -1, 0) == MAP_FAILED) {
      Decommit(p, size);  // if it is still there: at least its pages go back
      return;
    }
  }
  if (advice != Advice::kNone) {
    Count(g_madvise);
    madvise(p, size, advice == Advice::kHugePages ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
  }
}

void Decommit(void* p, size_t size) {
  Count(g_madvise);
  // MADV_DONTNEED, not MADV_FREE: RSS falls at once, which is what users of a decay
  // setting expect to see, and reuse after decay is rare by construction.
  madvise(p, size, MADV_DONTNEED);
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
    if (mincore(reinterpret_cast<void*>(a), pages * kPage, vec) != 0) return resident;
    for (size_t i = 0; i < pages; ++i) resident += vec[i] & 1;
    a += pages * kPage;
  }
  return resident;
}

uint64_t NowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

uint64_t NowCoarseNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

void WriteStderr(const char* s, size_t n) {
  while (n > 0) {
    ssize_t w = write(2, s, n);
    if (w < 0 && errno == EINTR) continue;
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
    int fd = open("/proc/self/environ", O_RDONLY | O_CLOEXEC);
    size_t len = 0;
    if (fd >= 0) {
      while (len < sizeof(g_environ_copy) - 1) {
        ssize_t r = read(fd, g_environ_copy + len, sizeof(g_environ_copy) - 1 - len);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        len += static_cast<size_t>(r);
      }
      close(fd);
    }
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
