// Whole-process stress program for a preloaded malloc replacement.
//
// It is run twice by run_under_preload.py, once on glibc and once with the allocator under
// test preloaded, and the two stdouts must be byte-identical. So stdout carries only facts
// that do not depend on the allocator, the scheduler or addresses: op counts per kind,
// bytes requested and order-independent checksums (sums of per-block signatures). Every
// block is filled with a pattern derived from its id and checked before it is freed, so
// overlapping blocks, stray writes and lost realloc contents show up as a failure.
//
// What is exercised, and why:
//  - sizes 1 B .. 64 KiB (log-uniform) and 300 KiB .. 4 MiB: small and large paths;
//  - posix_memalign / aligned_alloc / memalign / aligned operator new up to 64 KiB:
//    alignment handling on every path;
//  - calloc (must be zeroed, also when memory is reused), realloc growing, shrinking and
//    crossing from small to large sizes (contents must survive);
//  - C++ operator new / new[] / sized and aligned delete: the mangled entry points;
//  - frees on another thread (via per-thread inboxes), and blocks left alive by threads
//    that have exited and are freed later by threads that did not allocate them;
//  - fork() while workers allocate: the child must be able to malloc, start a thread and
//    exit normally (an allocator lock held across fork would deadlock it);
//  - error contracts: ENOMEM for impossible sizes, EINVAL for bad alignments,
//    std::bad_alloc / nullptr from operator new.
// Any failure prints one line "stress: FAIL <what>" to stderr and exits 1.
#include <errno.h>
#include <stdarg.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

#include "tests/testdata/fail.h"
#include "tests/testdata/pattern.h"

namespace {

// Called through volatile pointers so the compiler cannot fold, elide or pair up calls
// whose results it believes it knows (e.g. malloc(SIZE_MAX) or an unused malloc/free).
void* (*volatile g_malloc)(size_t) = malloc;
void* (*volatile g_calloc)(size_t, size_t) = calloc;
void* (*volatile g_realloc)(void*, size_t) = realloc;
void* (*volatile g_reallocarray)(void*, size_t, size_t) = reallocarray;
int (*volatile g_posix_memalign)(void**, size_t, size_t) = posix_memalign;
void* (*volatile g_aligned_alloc)(size_t, size_t) = aligned_alloc;
void* (*volatile g_memalign)(size_t, size_t) = memalign;
void* (*volatile g_valloc)(size_t) = valloc;
void (*volatile g_free)(void*) = free;
size_t (*volatile g_usable)(void*) = malloc_usable_size;

[[noreturn]] void Fail(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void Fail(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  testdata::VFail("stress", fmt, ap);
}

using pattern::kStride;
using pattern::Mix;
using pattern::Rng;

// Byte i of a block with this id is byte (i % 8) of Word(id, i / 8). The value depends
// only on (id, i), not on the block size, so a realloc'ed prefix can be checked against
// the same pattern. (Dense here: every byte, unlike pattern::Fill's sampled large blocks.)
inline uint64_t Word(uint64_t seed, size_t j) { return seed + j * kStride; }

void Fill(void* p, size_t n, uint64_t id) {
  unsigned char* b = static_cast<unsigned char*>(p);
  const uint64_t seed = Mix(id);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w = Word(seed, i / 8);
    memcpy(b + i, &w, 8);  // little-endian: byte k of w lands at b[i + k]
  }
  for (; i < n; ++i) b[i] = static_cast<unsigned char>(Word(seed, i / 8) >> (8 * (i % 8)));
}

// Returns the offset of the first wrong byte, or SIZE_MAX if all n bytes are right.
size_t FirstBad(const void* p, size_t n, uint64_t id) {
  const unsigned char* b = static_cast<const unsigned char*>(p);
  const uint64_t seed = Mix(id);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, b + i, 8);
    if (w != Word(seed, i / 8)) break;
  }
  for (; i < n; ++i)
    if (b[i] != static_cast<unsigned char>(Word(seed, i / 8) >> (8 * (i % 8)))) return i;
  return SIZE_MAX;
}

enum Kind : uint8_t {
  kMalloc, kCalloc, kRealloc, kPosixMemalign, kAlignedAlloc, kMemalign,
  kNew, kNewArray, kNewAligned, kNumKinds
};
const char* const kKindName[kNumKinds] = {"malloc", "calloc", "realloc", "posix_memalign",
                                          "aligned_alloc", "memalign", "new", "new[]",
                                          "new_aligned"};

struct Block {
  void* p = nullptr;
  size_t size = 0;
  size_t align = 0;  // 0: no alignment requested beyond the default
  uint64_t id = 0;
  Kind kind = kMalloc;
};

// A block's contribution to the order-independent checksums.
uint64_t Signature(const Block& b) {
  return Mix(b.id ^ (static_cast<uint64_t>(b.size) << 20) ^ (static_cast<uint64_t>(b.kind) << 60));
}

bool IsMallocFamily(Kind k) { return k < kNew; }

struct Counters {
  std::atomic<uint64_t> allocs[kNumKinds];
  std::atomic<uint64_t> large{0}, frees{0}, handed_off{0}, orphaned{0}, bytes{0};
  std::atomic<uint64_t> alloc_sig{0}, free_sig{0};
  std::atomic<uint64_t> progress{0};
};

// Leaked on purpose: the forked child calls exit(), and destructors of containers that a
// parent thread was modifying at fork time must not run there.
Counters* g_counters;

struct Inbox {
  std::mutex mu;
  std::vector<Block> blocks;
};
std::vector<Inbox>* g_inboxes;
std::mutex* g_orphans_mu;
std::vector<Block>* g_orphans;

size_t PickSmallSize(Rng& r) { return 1 + r.Below(size_t{1} << r.Below(17)); }  // 1..64 KiB
size_t PickLargeSize(Rng& r) { return (300u << 10) + r.Below((4u << 20) - (300u << 10) + 1); }
size_t PickAlign(Rng& r) { return size_t{8} << r.Below(14); }  // 8 .. 64 KiB

void CheckAligned(const Block& b) {
  if (b.align && (reinterpret_cast<uintptr_t>(b.p) & (b.align - 1)) != 0)
    Fail("%s(align=%zu, size=%zu) returned a misaligned pointer", kKindName[b.kind], b.align,
         b.size);
}

Block Allocate(Rng& r, uint64_t id) {
  Block b;
  b.id = id;
  const bool large = r.Below(1000) < 2;
  b.size = large ? PickLargeSize(r) : PickSmallSize(r);
  const uint64_t k = r.Below(100);
  if (k < 40) {
    b.kind = kMalloc;
    b.p = g_malloc(b.size);
  } else if (k < 50) {
    b.kind = kCalloc;
    const size_t elem = 1 + r.Below(16);
    const size_t n = (b.size + elem - 1) / elem;
    b.size = n * elem;
    b.p = g_calloc(n, elem);
    if (b.p) {
      const unsigned char* c = static_cast<const unsigned char*>(b.p);
      for (size_t i = 0; i < b.size; ++i)
        if (c[i]) Fail("calloc(%zu, %zu) byte %zu is %u, not zero", n, elem, i, c[i]);
    }
  } else if (k < 62) {
    // Start somewhere, fill, then move to a new size; 1 in 32 grows into the large range.
    b.kind = kRealloc;
    const size_t first = PickSmallSize(r);
    void* p = g_malloc(first);
    if (!p) Fail("malloc(%zu) returned NULL", first);
    Fill(p, first, id);
    if (r.Below(32) == 0) b.size = PickLargeSize(r);
    b.p = g_realloc(p, b.size);
    if (!b.p) Fail("realloc(%zu -> %zu) returned NULL", first, b.size);
    const size_t kept = first < b.size ? first : b.size;
    const size_t bad = FirstBad(b.p, kept, id);
    if (bad != SIZE_MAX)
      Fail("realloc(%zu -> %zu) lost contents at byte %zu", first, b.size, bad);
  } else if (k < 68) {
    b.kind = kPosixMemalign;
    b.align = PickAlign(r);
    int rc = g_posix_memalign(&b.p, b.align, b.size);
    if (rc != 0) Fail("posix_memalign(align=%zu, size=%zu) = %d", b.align, b.size, rc);
  } else if (k < 74) {
    b.kind = kAlignedAlloc;
    b.align = PickAlign(r);
    b.size = (b.size + b.align - 1) / b.align * b.align;  // C11: a multiple of the alignment
    b.p = g_aligned_alloc(b.align, b.size);
  } else if (k < 78) {
    b.kind = kMemalign;
    b.align = PickAlign(r);
    b.p = g_memalign(b.align, b.size);
  } else if (k < 90) {
    b.kind = kNew;
    b.p = ::operator new(b.size);
  } else if (k < 96) {
    b.kind = kNewArray;
    b.p = ::operator new[](b.size);
  } else {
    b.kind = kNewAligned;
    b.align = PickAlign(r);
    b.p = ::operator new(b.size, std::align_val_t{b.align});
  }
  if (!b.p) Fail("%s(size=%zu, align=%zu) returned NULL", kKindName[b.kind], b.size, b.align);
  if (b.size >= (300u << 10)) g_counters->large++;
  CheckAligned(b);
  if (IsMallocFamily(b.kind) && g_usable(b.p) < b.size)
    Fail("malloc_usable_size = %zu < requested %zu (%s)", g_usable(b.p), b.size,
         kKindName[b.kind]);
  Fill(b.p, b.size, id);
  g_counters->allocs[b.kind]++;
  g_counters->bytes += b.size;
  g_counters->alloc_sig += Signature(b);
  return b;
}

void Release(const Block& b) {
  const size_t bad = FirstBad(b.p, b.size, b.id);
  if (bad != SIZE_MAX)
    Fail("block id=%llx (%s, size %zu, align %zu) corrupted at byte %zu before free",
         static_cast<unsigned long long>(b.id), kKindName[b.kind], b.size, b.align, bad);
  switch (b.kind) {
    case kNew: ::operator delete(b.p, b.size); break;  // sized delete
    case kNewArray: ::operator delete[](b.p); break;
    case kNewAligned: ::operator delete(b.p, b.size, std::align_val_t{b.align}); break;
    default: g_free(b.p);
  }
  g_counters->frees++;
  g_counters->free_sig += Signature(b);
}

void DrainInbox(int self) {
  std::vector<Block> mine;
  {
    std::lock_guard<std::mutex> l((*g_inboxes)[self].mu);
    mine.swap((*g_inboxes)[self].blocks);
  }
  for (const Block& b : mine) Release(b);
}

void HandOff(int target, const Block& b) {
  std::lock_guard<std::mutex> l((*g_inboxes)[target].mu);
  (*g_inboxes)[target].blocks.push_back(b);
}

constexpr int kSlots = 256;

// Long-lived workers (index < n_long) run `ops` operations and leave a quarter of their live
// blocks in the orphan pool. Short-lived workers run ops/4 and, on exit, hand every live
// block to a long-lived worker, which frees it after its allocating thread is gone.
void Worker(int self, int n_threads, int n_long, int ops) {
  Rng r(1000 + self);
  Block slots[kSlots];
  uint64_t seq = 0;
  const bool short_lived = self >= n_long;
  const int my_ops = short_lived ? ops / 4 : ops;
  for (int op = 0; op < my_ops; ++op) {
    Block& s = slots[r.Below(kSlots)];
    if (s.p) {
      if (r.Below(4) == 0) {
        int target = static_cast<int>(r.Below(n_threads));
        if (target == self) target = (target + 1) % n_threads;
        HandOff(target, s);
        g_counters->handed_off++;
      } else {
        Release(s);
      }
      s = Block();
    }
    s = Allocate(r, (static_cast<uint64_t>(self) << 40) | seq++);
    if (op % 32 == 31) DrainInbox(self);
    g_counters->progress++;
  }
  for (Block& s : slots) {
    if (!s.p) continue;
    if (short_lived) {
      HandOff(static_cast<int>(r.Below(n_long)), s);
      g_counters->handed_off++;
    } else if (r.Below(4) == 0) {
      std::lock_guard<std::mutex> l(*g_orphans_mu);
      g_orphans->push_back(s);
      g_counters->orphaned++;
    } else {
      Release(s);
    }
  }
  if (!short_lived) DrainInbox(self);
}

// Runs in the forked child and in a thread the child starts.
void ChildChurn(uint64_t salt) {
  Rng r(salt);
  std::vector<Block> live;
  for (int i = 0; i < 400; ++i) {
    live.push_back(Allocate(r, (uint64_t{0xC1} << 48) | (salt << 20) | i));
    if (live.size() > 32) {
      Release(live.front());
      live.erase(live.begin());
    }
  }
  for (const Block& b : live) Release(b);
}

void ForkWhileBusy() {
  fflush(stdout);  // nothing buffered may be flushed twice by the child's exit()
  pid_t pid = fork();
  if (pid < 0) Fail("fork: %s", strerror(errno));
  if (pid == 0) {
    // Allocate at once, before any thread exists in the child: this is where a lock held
    // by a parent thread at fork time (and not reset by an atfork handler) deadlocks.
    void* p = g_malloc(100);
    if (!p) Fail("child: malloc(100) returned NULL");
    g_free(p);
    ChildChurn(1);
    std::thread t(ChildChurn, 2);
    t.join();
    exit(0);  // a normal exit, so the allocator's exit hooks run in the child too
  }
  // Bounded wait, so a deadlocked child fails the test with a reason instead of timing out.
  for (int waited_ms = 0;; waited_ms += 10) {
    int status = 0;
    pid_t got = waitpid(pid, &status, WNOHANG);
    if (got == pid) {
      if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
      if (WIFSIGNALED(status)) Fail("forked child killed by signal %d", WTERMSIG(status));
      Fail("forked child exited with status %d", WEXITSTATUS(status));
    }
    if (got < 0) Fail("waitpid: %s", strerror(errno));
    if (waited_ms > 20000) {
      kill(pid, SIGKILL);
      Fail("forked child still running after 20 s (allocator lock held across fork?)");
    }
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, nullptr);
  }
}

// Cleared by --no-errno, for allocators known to return NULL without setting errno
// (mimalloc 2.0 does so for oversized requests); hakmem's targets never pass it.
bool g_check_errno = true;
bool ErrnoIs(int want) { return !g_check_errno || errno == want; }

void CheckContracts() {
  errno = 0;
  void* p = g_malloc(SIZE_MAX);
  if (p || !ErrnoIs(ENOMEM)) Fail("malloc(SIZE_MAX) = %p, errno %d (want NULL, ENOMEM)", p, errno);
  puts("contract malloc(SIZE_MAX) -> NULL/ENOMEM: ok");

  errno = 0;
  p = g_malloc(PTRDIFF_MAX + size_t{1});
  if (p || !ErrnoIs(ENOMEM)) Fail("malloc(PTRDIFF_MAX+1) = %p, errno %d (want NULL, ENOMEM)", p, errno);
  puts("contract malloc(PTRDIFF_MAX+1) -> NULL/ENOMEM: ok");

  errno = 0;
  p = g_calloc(SIZE_MAX / 2, 3);  // n * size overflows
  if (p || !ErrnoIs(ENOMEM)) Fail("calloc(SIZE_MAX/2, 3) = %p, errno %d (want NULL, ENOMEM)", p, errno);
  puts("contract calloc overflow -> NULL/ENOMEM: ok");

  errno = 0;
  p = g_reallocarray(nullptr, SIZE_MAX / 2, 3);
  if (p || !ErrnoIs(ENOMEM)) Fail("reallocarray overflow = %p, errno %d (want NULL, ENOMEM)", p, errno);
  puts("contract reallocarray overflow -> NULL/ENOMEM: ok");

  // A failed realloc must leave the old block alive and intact.
  p = g_malloc(100);
  if (!p) Fail("malloc(100) returned NULL");
  Fill(p, 100, 42);
  errno = 0;
  void* q = g_realloc(p, SIZE_MAX);
  if (q || !ErrnoIs(ENOMEM)) Fail("realloc(p, SIZE_MAX) = %p, errno %d (want NULL, ENOMEM)", q, errno);
  if (FirstBad(p, 100, 42) != SIZE_MAX) Fail("failed realloc changed the old block");
  g_free(p);
  puts("contract realloc(p, SIZE_MAX) -> NULL/ENOMEM, block kept: ok");

  p = g_malloc(0);  // glibc returns a unique, freeable pointer; programs rely on it
  if (!p) Fail("malloc(0) returned NULL");
  g_free(p);
  g_free(nullptr);
  puts("contract malloc(0) non-NULL, free(NULL) no-op: ok");

  p = reinterpret_cast<void*>(1);
  int rc = g_posix_memalign(&p, 24, 64);  // not a power of two
  if (rc != EINVAL) Fail("posix_memalign(align=24) = %d (want EINVAL)", rc);
  rc = g_posix_memalign(&p, sizeof(void*) / 2, 64);  // not a multiple of sizeof(void*)
  if (rc != EINVAL) Fail("posix_memalign(align=%zu) = %d (want EINVAL)", sizeof(void*) / 2, rc);
  puts("contract posix_memalign bad alignment -> EINVAL: ok");

  errno = 0;
  rc = g_posix_memalign(&p, 64, SIZE_MAX - 4096);
  if (rc != ENOMEM) Fail("posix_memalign(64, SIZE_MAX-4096) = %d (want ENOMEM)", rc);
  puts("contract posix_memalign huge -> ENOMEM: ok");

  for (size_t align = 1; align <= (size_t{1} << 20); align <<= 1) {
    for (size_t size : {size_t{1}, align, 3 * align, size_t{100000}}) {
      size_t asize = (size + align - 1) / align * align;
      Block b;
      b.align = align;
      b.size = asize;
      b.kind = kAlignedAlloc;
      b.p = g_aligned_alloc(align, asize);
      if (!b.p) Fail("aligned_alloc(%zu, %zu) returned NULL", align, asize);
      CheckAligned(b);
      g_free(b.p);
      b.kind = kMemalign;
      b.size = size;
      b.p = g_memalign(align, size);
      if (!b.p) Fail("memalign(%zu, %zu) returned NULL", align, size);
      CheckAligned(b);
      if (g_usable(b.p) < size) Fail("memalign: usable size %zu < %zu", g_usable(b.p), size);
      g_free(b.p);
      if (align >= sizeof(void*)) {
        b.kind = kPosixMemalign;
        if (g_posix_memalign(&b.p, align, size) != 0) Fail("posix_memalign(%zu, %zu) failed", align, size);
        CheckAligned(b);
        g_free(b.p);
      }
    }
  }
  puts("contract aligned_alloc/memalign/posix_memalign alignment 1 B .. 1 MiB: ok");

  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  p = g_valloc(10);
  if (!p || (reinterpret_cast<uintptr_t>(p) % page) != 0) Fail("valloc(10) = %p, not page aligned", p);
  g_free(p);
  puts("contract valloc page aligned: ok");

  bool threw = false;
  try {
    void* volatile big = ::operator new(SIZE_MAX / 2);
    ::operator delete(big);
  } catch (const std::bad_alloc&) {
    threw = true;
  }
  if (!threw) Fail("operator new(SIZE_MAX/2) did not throw std::bad_alloc");
  void* volatile nt = ::operator new(SIZE_MAX / 2, std::nothrow);
  if (nt) Fail("operator new(SIZE_MAX/2, nothrow) returned non-NULL");
  puts("contract operator new huge -> bad_alloc, nothrow -> nullptr: ok");

  // calloc must zero memory that was used before (a reused block, not fresh pages).
  for (size_t size : {size_t{24}, size_t{1000}, size_t{40000}, size_t{1} << 20}) {
    for (int round = 0; round < 20; ++round) {
      void* d = g_malloc(size);
      if (!d) Fail("malloc(%zu) returned NULL", size);
      memset(d, 0xAB, size);
      g_free(d);
      unsigned char* c = static_cast<unsigned char*>(g_calloc(1, size));
      if (!c) Fail("calloc(1, %zu) returned NULL", size);
      for (size_t i = 0; i < size; ++i)
        if (c[i]) Fail("calloc(1, %zu) after free: byte %zu is 0x%x", size, i, c[i]);
      g_free(c);
    }
  }
  puts("contract calloc zeroes reused memory: ok");
}

}  // namespace

int main(int argc, char** argv) {
  int n_threads = 6, n_long = 4, ops = 20000;
  for (int i = 1; i < argc; ++i) {
    if (strncmp(argv[i], "--ops=", 6) == 0) {
      ops = atoi(argv[i] + 6);
    } else if (strcmp(argv[i], "--no-errno") == 0) {
      g_check_errno = false;
    } else {
      Fail("usage: stress [--ops=N (>= 100)] [--no-errno]; got %s", argv[i]);
    }
  }
  if (ops < 100) Fail("--ops must be >= 100");

  CheckContracts();

  g_counters = new Counters();
  for (auto& a : g_counters->allocs) a = 0;
  g_inboxes = new std::vector<Inbox>(n_threads);
  g_orphans_mu = new std::mutex();
  g_orphans = new std::vector<Block>();

  std::vector<std::thread> workers;
  for (int i = 0; i < n_threads; ++i) workers.emplace_back(Worker, i, n_threads, n_long, ops);

  // Fork once the workers are well under way (a quarter of the long-lived work).
  while (g_counters->progress.load() < static_cast<uint64_t>(ops))
    std::this_thread::yield();
  ForkWhileBusy();
  puts("fork while threads allocate: child malloc + thread + exit(0): ok");

  for (auto& t : workers) t.join();

  // Everything left (inboxes of exited threads, orphans) is freed by fresh threads that
  // allocated none of it.
  std::vector<Block> rest;
  for (auto& in : *g_inboxes) rest.insert(rest.end(), in.blocks.begin(), in.blocks.end());
  rest.insert(rest.end(), g_orphans->begin(), g_orphans->end());
  std::thread reapers[2];
  for (int i = 0; i < 2; ++i)
    reapers[i] = std::thread([&rest, i] {
      for (size_t j = i; j < rest.size(); j += 2) Release(rest[j]);
    });
  for (auto& t : reapers) t.join();

  Counters& c = *g_counters;
  uint64_t total = 0;
  for (int k = 0; k < kNumKinds; ++k) {
    printf("allocs %-14s %llu\n", kKindName[k], static_cast<unsigned long long>(c.allocs[k].load()));
    total += c.allocs[k];
  }
  printf("allocs total %llu (large %llu), bytes requested %llu\n",
         static_cast<unsigned long long>(total), static_cast<unsigned long long>(c.large.load()),
         static_cast<unsigned long long>(c.bytes.load()));
  printf("handed to other threads %llu, orphaned past thread exit %llu\n",
         static_cast<unsigned long long>(c.handed_off.load()),
         static_cast<unsigned long long>(c.orphaned.load()));
  printf("alloc signature %016llx\nfree signature  %016llx\n",
         static_cast<unsigned long long>(c.alloc_sig.load()),
         static_cast<unsigned long long>(c.free_sig.load()));
  if (c.frees != total) Fail("%llu blocks allocated but %llu freed",
                             static_cast<unsigned long long>(total),
                             static_cast<unsigned long long>(c.frees.load()));
  if (c.alloc_sig != c.free_sig) Fail("signatures of allocated and freed blocks differ");
  puts("stress: ok");
  return 0;
}
