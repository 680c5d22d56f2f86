// Reliability workloads for a preloaded malloc: many threads handing blocks to each other,
// fork while threads allocate, libraries unloaded while their blocks live, thousands of
// threads, a heap of several GiB of small blocks, a hundred thousand call sites, and a
// soak whose resident memory must stay bounded and come back when the load drops.
//
//   reliability COMMAND [--name=value ...]
//
// Every command is deterministic for its arguments (seeded per thread; counts and
// order-independent checksums, never addresses or timings, on stdout), so a run on glibc
// and a run under the allocator print the same stdout. Every block carries a pattern
// (tests/testdata/pattern.h) that is checked before it is freed, by whichever thread frees
// it. A failure prints one line "reliability: FAIL <what>" on stderr and exits 1. Facts
// that depend on the allocator or the machine (map counts, resident memory) go to stderr
// as "reliability: note ..." lines for the driver, tests/reliability_test.py.
//
// Commands (defaults are the quick versions the test suite runs):
//   handoff  --threads=48 --items=1500: producers hand blocks through bounded queues to
//            consumers, which check, free, realloc or keep them; consumers exit with
//            blocks still live, freed afterwards by the main thread.
//   larson   --threads=16 --generations=8 --rounds=2500 --slots=256: larson-style: each
//            generation's threads inherit the live blocks of the last generation's
//            (exited) threads, and replace them at random.
//   fork     --forks=3 --workers=4: fork() while workers allocate; each child allocates,
//            frees, starts a thread, the first forks a grandchild, all exit(0).
//   fork-publish --forks=8: fork() while threads publish route decisions (hak_route_set,
//            as the learner does on every trial); each child publishes into every slot.
//   dlopen   --plugin=PATH --cycles=30: load a library, take blocks it allocated, unload
//            it, free its blocks two cycles later; threads allocate throughout.
//   threads  --count=2000 --batch=100: create and join thousands of threads, each
//            allocating, and exiting with blocks that others free.
//   bigheap  --mib=1024: a live heap of small blocks; counts the process's mappings.
//   sites    --count=100000: explicit sites (hak_site_register + hak_malloc_at).
//   contexts --fanout=48: fanout^3 distinct calling contexts, each making a routed request.
//   exit-together --children=8 --fanout=12: children that each made routed requests
//            from ~fanout^3 contexts exit at the same moment, so that the files the
//            allocator writes at exit (shared paths, no %p) are written concurrently; the
//            parent ends in _exit, leaving the children's files.
//   soak     --seconds=20 --threads=4 --heavy-mib=256 --heavy-ops=200000: cycles of heavy
//            and light load (at least two); resident memory must stay bounded from cycle
//            to cycle and come back down in each light phase.
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tests/testdata/fail.h"
#include "tests/testdata/pattern.h"

namespace {

using pattern::FirstBad;
using pattern::Fill;
using pattern::Mix;
using pattern::Rng;

// Through volatile pointers, so the compiler can neither elide nor pair up the calls.
void* (*volatile g_malloc)(size_t) = malloc;
void* (*volatile g_calloc)(size_t, size_t) = calloc;
void* (*volatile g_realloc)(void*, size_t) = realloc;
void (*volatile g_free)(void*) = free;

[[noreturn]] void Fail(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void Fail(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  testdata::VFail("reliability", fmt, ap);
}

void Note(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void Note(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  testdata::VLine("reliability", "note", fmt, ap);
  va_end(ap);
}

// ---- arguments ----

std::map<std::string, std::string> g_args;

long ArgInt(const char* name, long dflt) {
  auto it = g_args.find(name);
  if (it == g_args.end()) return dflt;
  char* end = nullptr;
  const long v = strtol(it->second.c_str(), &end, 10);
  if (end == it->second.c_str() || *end != '\0') Fail("--%s=%s is not a number", name, it->second.c_str());
  return v;
}

std::string ArgStr(const char* name, const char* dflt) {
  auto it = g_args.find(name);
  return it == g_args.end() ? dflt : it->second;
}

// ---- blocks ----

struct Block {
  void* p = nullptr;
  size_t size = 0;
  uint64_t id = 0;
};

uint64_t Signature(uint64_t id, size_t size) { return Mix(id ^ (static_cast<uint64_t>(size) << 24)); }

Block NewBlock(size_t size, uint64_t id) {
  Block b;
  b.p = g_malloc(size);
  if (b.p == nullptr) Fail("malloc(%zu) returned NULL", size);
  b.size = size;
  b.id = id;
  Fill(b.p, size, id);
  return b;
}

void Check(const Block& b, const char* where) {
  const size_t bad = FirstBad(b.p, b.size, b.id);
  if (bad != SIZE_MAX) {
    Fail("%s: block id=%llx size %zu corrupted at byte %zu", where,
         static_cast<unsigned long long>(b.id), b.size, bad);
  }
}

// Cheap marks for commands whose point is the number of requests, not their contents:
// the block's first and last words.
void Mark(const Block& b) {
  __builtin_memcpy(b.p, &b.id, 8);
  __builtin_memcpy(static_cast<char*>(b.p) + b.size - 8, &b.id, 8);
}
void CheckMarkAndFree(const Block& b, const char* where) {
  uint64_t first, last;
  __builtin_memcpy(&first, b.p, 8);
  __builtin_memcpy(&last, static_cast<char*>(b.p) + b.size - 8, 8);
  if (first != b.id || last != b.id) {
    Fail("%s: block id=%llx size %zu corrupted", where, static_cast<unsigned long long>(b.id), b.size);
  }
  g_free(b.p);
}

void CheckAndFree(const Block& b, const char* where) {
  Check(b, where);
  g_free(b.p);
}

// Mostly small sizes, some medium, a few of each routed band (64 KiB .. 4 MiB).
size_t PickSize(Rng& r) {
  const uint64_t k = r.Below(1000);
  if (k < 900) return 1 + r.Below(size_t{16} << r.Below(7));      // 1 .. 1 KiB, log-ish
  if (k < 985) return 1024 + r.Below(63 * 1024);                  // 1 .. 64 KiB
  if (k < 995) return (64u << 10) + r.Below(192u << 10);          // 64 .. 256 KiB
  return (256u << 10) + r.Below((2u << 20) - (256u << 10));       // 256 KiB .. 2 MiB
}

// hakmem's own API when it is the allocator (nullptr on glibc).
struct HakApi {
  uint64_t (*site_register)(const char*) = nullptr;
  void* (*malloc_at)(size_t, uint64_t) = nullptr;
  size_t (*release_memory)() = nullptr;
};
HakApi LookUpHak() {
  HakApi h;
  h.site_register = reinterpret_cast<uint64_t (*)(const char*)>(dlsym(RTLD_DEFAULT, "hak_site_register"));
  h.malloc_at = reinterpret_cast<void* (*)(size_t, uint64_t)>(dlsym(RTLD_DEFAULT, "hak_malloc_at"));
  h.release_memory = reinterpret_cast<size_t (*)()>(dlsym(RTLD_DEFAULT, "hak_release_memory"));
  return h;
}

// Lines of /proc/self/maps: the process's mappings, which vm.max_map_count bounds. Read
// with read(2) into a static buffer: the count must not depend on our own allocations.
long CountMappings() {
  static char buf[1 << 16];
  FILE* f = fopen("/proc/self/maps", "re");
  if (f == nullptr) Fail("cannot open /proc/self/maps: %s", strerror(errno));
  long lines = 0;
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
    for (size_t i = 0; i < n; ++i) lines += buf[i] == '\n';
  }
  fclose(f);
  return lines;
}

long ResidentBytes() {
  FILE* f = fopen("/proc/self/statm", "re");
  if (f == nullptr) Fail("cannot open /proc/self/statm: %s", strerror(errno));
  long size = 0, resident = 0;
  if (fscanf(f, "%ld %ld", &size, &resident) != 2) Fail("cannot parse /proc/self/statm");
  fclose(f);
  return resident * sysconf(_SC_PAGESIZE);
}

long MaxMapCount() {
  FILE* f = fopen("/proc/sys/vm/max_map_count", "re");
  long v = 65530;
  if (f != nullptr) {
    if (fscanf(f, "%ld", &v) != 1) v = 65530;
    fclose(f);
  }
  return v;
}

uint64_t NowMs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

void SleepMs(int ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

// Order-independent totals that every command prints.
struct Totals {
  std::atomic<uint64_t> allocs{0}, frees{0}, bytes{0}, alloc_sig{0}, free_sig{0};
  void Alloc(const Block& b) {
    allocs++;
    bytes += b.size;
    alloc_sig += Signature(b.id, b.size);
  }
  void Free(const Block& b) {
    frees++;
    free_sig += Signature(b.id, b.size);
  }
  void Print(const char* what) {
    printf("%s: allocs %llu frees %llu bytes %llu\n", what,
           static_cast<unsigned long long>(allocs.load()),
           static_cast<unsigned long long>(frees.load()),
           static_cast<unsigned long long>(bytes.load()));
    printf("%s: alloc signature %016llx free signature %016llx\n", what,
           static_cast<unsigned long long>(alloc_sig.load()),
           static_cast<unsigned long long>(free_sig.load()));
    if (allocs.load() != frees.load() || alloc_sig.load() != free_sig.load()) {
      Fail("%s: %llu allocated, %llu freed, or the signatures differ", what,
           static_cast<unsigned long long>(allocs.load()),
           static_cast<unsigned long long>(frees.load()));
    }
  }
};

// ---- handoff: producers and consumers over bounded queues ----

class Queue {
 public:
  explicit Queue(size_t cap) : cap_(cap) {}
  void Push(const Block& b) {
    std::unique_lock<std::mutex> l(mu_);
    not_full_.wait(l, [&] { return q_.size() < cap_; });
    q_.push_back(b);
    not_empty_.notify_one();
  }
  Block Pop() {
    std::unique_lock<std::mutex> l(mu_);
    not_empty_.wait(l, [&] { return !q_.empty(); });
    Block b = q_.front();
    q_.pop_front();
    not_full_.notify_one();
    return b;
  }

 private:
  const size_t cap_;
  std::mutex mu_;
  std::condition_variable not_empty_, not_full_;
  std::deque<Block> q_;
};

int Handoff() {
  const int threads = static_cast<int>(ArgInt("threads", 48));
  const int items = static_cast<int>(ArgInt("items", 1500));
  if (threads < 2 || items < 1) Fail("handoff: need --threads >= 2 and --items >= 1");
  const int producers = threads / 2, consumers = threads - producers;
  Totals t;
  std::atomic<uint64_t> reallocs{0}, kept{0};
  std::vector<Queue*> queues;
  for (int i = 0; i < consumers; ++i) queues.push_back(new Queue(16));
  // What each consumer still holds when it exits, freed by the main thread afterwards.
  std::vector<std::vector<Block>> leftovers(consumers);

  std::vector<std::thread> ts;
  for (int c = 0; c < consumers; ++c) {
    ts.emplace_back([&, c] {
      std::vector<Block> ring(32);
      size_t next = 0;
      for (;;) {
        Block b = queues[c]->Pop();
        if (b.p == nullptr) break;  // every producer is done
        Check(b, "handoff consumer");
        const uint64_t action = Mix(b.id ^ 0xC0) % 8;
        if (action < 4) {
          t.Free(b);
          g_free(b.p);
        } else if (action == 4) {
          // Resize a block another thread allocated, then free it here.
          const size_t size = 1 + Mix(b.id ^ 0x5E) % (b.size * 2 + 64);
          void* q = g_realloc(b.p, size);
          if (q == nullptr) Fail("realloc(%zu -> %zu) returned NULL", b.size, size);
          const size_t kept_bytes = size < b.size ? size : b.size;
          const size_t bad = FirstBad(q, kept_bytes, b.id, b.size);
          if (bad != SIZE_MAX) Fail("realloc across threads lost byte %zu of %zu", bad, kept_bytes);
          t.Free(b);
          g_free(q);
          reallocs++;
        } else {
          Block& slot = ring[next++ % ring.size()];
          if (slot.p != nullptr) {
            Check(slot, "handoff ring");
            t.Free(slot);
            g_free(slot.p);
          }
          slot = b;
          kept++;
        }
      }
      for (const Block& b : ring) {
        if (b.p != nullptr) leftovers[c].push_back(b);  // outlives this thread
      }
    });
  }
  std::vector<std::thread> ps;
  for (int p = 0; p < producers; ++p) {
    ps.emplace_back([&, p] {
      Rng r(0x1000 + static_cast<uint64_t>(p));
      for (int i = 0; i < items; ++i) {
        const uint64_t id = (static_cast<uint64_t>(p + 1) << 32) | static_cast<uint64_t>(i);
        Block b = NewBlock(PickSize(r), id);
        t.Alloc(b);
        queues[Mix(id) % static_cast<uint64_t>(consumers)]->Push(b);
      }
    });
  }
  for (auto& th : ps) th.join();
  for (Queue* q : queues) q->Push(Block());
  for (auto& th : ts) th.join();
  size_t left = 0;
  for (auto& v : leftovers) {
    for (const Block& b : v) {
      Check(b, "handoff leftover");
      t.Free(b);
      g_free(b.p);
      ++left;
    }
  }
  for (Queue* q : queues) delete q;
  printf("handoff: %d producers, %d consumers, %d items each\n", producers, consumers, items);
  printf("handoff: reallocated across threads %llu, kept in rings %llu, freed after their "
         "thread exited %zu\n",
         static_cast<unsigned long long>(reallocs.load()),
         static_cast<unsigned long long>(kept.load()), left);
  t.Print("handoff");
  return 0;
}

// ---- larson: generations of threads inheriting each other's live blocks ----

int Larson() {
  const int threads = static_cast<int>(ArgInt("threads", 16));
  const int generations = static_cast<int>(ArgInt("generations", 8));
  const int rounds = static_cast<int>(ArgInt("rounds", 2500));
  const int slots = static_cast<int>(ArgInt("slots", 256));
  Totals t;
  std::vector<std::vector<Block>> heaps(threads, std::vector<Block>(slots));
  for (int g = 0; g < generations; ++g) {
    // Thread i of this generation takes over the blocks of thread (i + g) of the last:
    // they were allocated by a thread that has exited.
    std::vector<std::vector<Block>> next(threads);
    std::vector<std::thread> ts;
    for (int i = 0; i < threads; ++i) {
      ts.emplace_back([&, i] {
        std::vector<Block> mine = std::move(heaps[(i + g) % threads]);
        Rng r(Mix(static_cast<uint64_t>(g) * 1000 + static_cast<uint64_t>(i)));
        for (int k = 0; k < rounds; ++k) {
          Block& s = mine[r.Below(mine.size())];
          if (s.p != nullptr) {
            Check(s, "larson");
            t.Free(s);
            g_free(s.p);
          }
          const uint64_t id = (static_cast<uint64_t>(g) << 48) | (static_cast<uint64_t>(i) << 32) |
                              static_cast<uint64_t>(k);
          s = NewBlock(PickSize(r), id);
          t.Alloc(s);
        }
        next[i] = std::move(mine);
      });
    }
    for (auto& th : ts) th.join();
    heaps = std::move(next);
  }
  for (auto& h : heaps) {
    for (const Block& b : h) {
      if (b.p == nullptr) continue;
      Check(b, "larson final");
      t.Free(b);
      g_free(b.p);
    }
  }
  printf("larson: %d threads x %d generations x %d rounds over %d slots\n", threads, generations,
         rounds, slots);
  t.Print("larson");
  return 0;
}

// ---- fork while threads allocate ----

// A child's work: small and routed blocks, checked and freed; returns a checksum.
uint64_t ChildChurn(uint64_t salt) {
  Rng r(salt);
  std::vector<Block> live;
  uint64_t sig = 0;
  for (int i = 0; i < 300; ++i) {
    size_t size = PickSize(r);
    if (i % 10 == 0) size = (64u << 10) + r.Below(1u << 20);  // routed: the learner's business
    live.push_back(NewBlock(size, (salt << 20) | static_cast<uint64_t>(i)));
    sig += Signature(live.back().id, size);
    if (live.size() > 24) {
      CheckAndFree(live.front(), "child");
      live.erase(live.begin());
    }
  }
  for (const Block& b : live) CheckAndFree(b, "child");
  return sig;
}

void WaitChild(pid_t pid, const char* who, int limit_ms = 60000) {
  for (int waited_ms = 0;; waited_ms += 10) {
    int status = 0;
    const pid_t got = waitpid(pid, &status, WNOHANG);
    if (got == pid) {
      if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
      if (WIFSIGNALED(status)) Fail("%s killed by signal %d", who, WTERMSIG(status));
      Fail("%s exited with status %d", who, WEXITSTATUS(status));
    }
    if (got < 0) Fail("waitpid(%s): %s", who, strerror(errno));
    if (waited_ms > limit_ms) {
      kill(pid, SIGKILL);
      Fail("%s still running after %d s (a lock held across fork?)", who, limit_ms / 1000);
    }
    SleepMs(10);
  }
}

void ChildMain(int k) {
  // At once, before the child has a second thread: a lock some parent thread held at the
  // fork and no handler reset would deadlock here.
  void* p = g_malloc(100);
  if (p == nullptr) Fail("child %d: malloc(100) returned NULL", k);
  g_free(p);
  void* big = g_malloc(300 << 10);
  if (big == nullptr) Fail("child %d: malloc(300 KiB) returned NULL", k);
  g_free(big);
  uint64_t sig = ChildChurn(static_cast<uint64_t>(k) * 2 + 1);
  std::atomic<uint64_t> thread_sig{0};
  std::thread th([&] { thread_sig = ChildChurn(static_cast<uint64_t>(k) * 2 + 2); });
  if (k == 0) {
    // A grandchild, forked while the child's own thread allocates.
    fflush(stdout);
    const pid_t g = fork();
    if (g < 0) Fail("child fork: %s", strerror(errno));
    if (g == 0) {
      ChildChurn(0x6C);
      exit(0);
    }
    WaitChild(g, "grandchild");
  }
  th.join();
  if (sig == 0 || thread_sig.load() == 0) Fail("child %d: empty churn", k);
  exit(0);  // a normal exit: the allocator's exit hooks (files, exit line) run here too
}

int Fork() {
  const int forks = static_cast<int>(ArgInt("forks", 3));
  const int workers = static_cast<int>(ArgInt("workers", 4));
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> progress{0};
  Totals t;
  std::vector<std::thread> ts;
  for (int w = 0; w < workers; ++w) {
    ts.emplace_back([&, w] {
      Rng r(0xF0 + static_cast<uint64_t>(w));
      std::vector<Block> slots(64);
      uint64_t seq = 0;
      // Runs until told to stop, so its op count varies: nothing of it reaches stdout.
      while (!stop.load(std::memory_order_relaxed)) {
        Block& s = slots[r.Below(slots.size())];
        if (s.p != nullptr) CheckAndFree(s, "fork worker");
        s = NewBlock(PickSize(r), (static_cast<uint64_t>(w) << 40) | seq++);
        progress++;
      }
      for (const Block& b : slots) {
        if (b.p != nullptr) CheckAndFree(b, "fork worker");
      }
    });
  }
  for (int k = 0; k < forks; ++k) {
    const uint64_t target = static_cast<uint64_t>(k + 1) * 2000;
    while (progress.load() < target) std::this_thread::yield();
    fflush(stdout);  // nothing buffered may be written twice
    const pid_t pid = fork();
    if (pid < 0) Fail("fork: %s", strerror(errno));
    if (pid == 0) ChildMain(k);
    WaitChild(pid, "forked child");
    printf("fork %d: child allocated, freed, ran a thread%s and exited 0\n", k,
           k == 0 ? ", forked a grandchild," : "");
  }
  stop = true;
  for (auto& th : ts) th.join();
  printf("fork: %d forks while %d threads allocated: ok\n", forks, workers);
  return 0;
}

// ---- fork while threads publish route decisions ----

// Threads publish per-site decisions (hak_route_set, what the learner does on every trial
// while it explores) for ever new sites while the main thread forks; each child then
// publishes a decision for a site in every slot of the route table, and must finish. A
// slot's writer lock held by a parent thread at the fork, and not reset in the child,
// would hang it there. On glibc (no hak_route_set) the children only allocate.
int ForkPublish() {
  const int forks = static_cast<int>(ArgInt("forks", 8));
  using RouteSet = int (*)(uint64_t, size_t, int);
  auto route_set = reinterpret_cast<RouteSet>(dlsym(RTLD_DEFAULT, "hak_route_set"));
  constexpr int kPool = 1, kBigCache = 2;  // HAK_STRATEGY_POOL, HAK_STRATEGY_BIGCACHE
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> published{0};
  std::vector<std::thread> ts;
  for (int w = 0; w < 2; ++w) {
    ts.emplace_back([&, w] {
      uint64_t key = (uint64_t{1} << 63) | (static_cast<uint64_t>(w + 1) << 40);
      while (!stop.load(std::memory_order_relaxed)) {
        if (route_set != nullptr) route_set(++key, 100 << 10, kPool);
        void* p = g_malloc(100 << 10);  // and the route itself
        g_free(p);
        published++;
      }
    });
  }
  for (int k = 0; k < forks; ++k) {
    const uint64_t target = published.load() + 1000;
    while (published.load() < target) std::this_thread::yield();
    fflush(stdout);
    const pid_t pid = fork();
    if (pid < 0) Fail("fork: %s", strerror(errno));
    if (pid == 0) {
      // Keys whose slots cover the whole table (4096 slots; 64k keys leave none out).
      for (uint64_t key = 1; key <= 65536 && route_set != nullptr; ++key) {
        route_set((uint64_t{1} << 62) | (key * 0x10001), 1 << 20, kBigCache);
      }
      void* p = g_malloc(1 << 20);
      if (p == nullptr) Fail("child: NULL");
      g_free(p);
      exit(0);
    }
    WaitChild(pid, "child publishing decisions", 20000);
  }
  stop = true;
  for (auto& th : ts) th.join();
  printf("fork-publish: %d children published route decisions after a fork: ok\n", forks);
  return 0;
}

// ---- dlopen/dlclose while the library's blocks live ----

using PluginAllocate = size_t (*)(void**, size_t*, int, uint64_t);
using PluginCheckAndFree = bool (*)(void*, size_t, uint64_t);
using PluginStaticOk = bool (*)();

int Dlopen() {
  const std::string path = ArgStr("plugin", "");
  const int cycles = static_cast<int>(ArgInt("cycles", 30));
  if (path.empty()) Fail("dlopen: --plugin=PATH is required");
  constexpr int kPerCycle = 24;
  std::atomic<bool> stop{false};
  std::vector<std::thread> ts;
  for (int w = 0; w < 2; ++w) {
    ts.emplace_back([&, w] {
      Rng r(0xD1 + static_cast<uint64_t>(w));
      uint64_t seq = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        size_t size = PickSize(r);
        if (seq % 8 == 0) size = (64u << 10) + r.Below(512u << 10);
        Block b = NewBlock(size, (static_cast<uint64_t>(w + 1) << 40) | seq++);
        CheckAndFree(b, "dlopen worker");
      }
    });
  }
  std::vector<std::vector<Block>> from_plugin(cycles);
  std::vector<void*> spacers;
  uint64_t plugin_bytes = 0;
  int by_plugin_freed = 0;
  for (int c = 0; c < cycles; ++c) {
    // A page mapped where the library was keeps the next load at another address, so
    // every cycle is a module the allocator has not seen at that base.
    void* spacer = mmap(nullptr, 1 << 16, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (spacer == MAP_FAILED) Fail("mmap: %s", strerror(errno));
    spacers.push_back(spacer);
    void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (h == nullptr) Fail("dlopen(%s): %s", path.c_str(), dlerror());
    auto alloc = reinterpret_cast<PluginAllocate>(dlsym(h, "plugin_allocate"));
    auto check_free = reinterpret_cast<PluginCheckAndFree>(dlsym(h, "plugin_check_and_free"));
    auto static_ok = reinterpret_cast<PluginStaticOk>(dlsym(h, "plugin_static_data_ok"));
    if (alloc == nullptr || check_free == nullptr || static_ok == nullptr) Fail("dlsym: %s", dlerror());
    if (!static_ok()) Fail("cycle %d: the library's load-time data is corrupt", c);
    std::vector<void*> ptrs(kPerCycle);
    std::vector<size_t> sizes(kPerCycle);
    const uint64_t first = (static_cast<uint64_t>(c) + 1) << 24;
    const size_t bytes = alloc(ptrs.data(), sizes.data(), kPerCycle, first);
    if (bytes == 0) Fail("cycle %d: the library could not allocate", c);
    plugin_bytes += bytes;
    for (int i = 0; i < kPerCycle; ++i) {
      from_plugin[c].push_back(Block{ptrs[i], sizes[i], first + static_cast<uint64_t>(i)});
    }
    // Blocks the program allocated, freed inside the library.
    Rng r(0xAB + static_cast<uint64_t>(c));
    for (int i = 0; i < 8; ++i) {
      Block b = NewBlock(PickSize(r), (uint64_t{0xB} << 56) | (static_cast<uint64_t>(c) << 8) | i);
      if (!check_free(b.p, b.size, b.id)) Fail("cycle %d: the library saw a corrupt block", c);
      ++by_plugin_freed;
    }
    if (!static_ok()) Fail("cycle %d: the library's load-time data is corrupt", c);
    if (dlclose(h) != 0) Fail("dlclose: %s", dlerror());
    if (dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD) != nullptr) {
      Fail("cycle %d: the library is still loaded after dlclose", c);
    }
    // Blocks of the library as loaded two cycles ago: unloaded twice since.
    if (c >= 2) {
      for (const Block& b : from_plugin[c - 2]) CheckAndFree(b, "block of an unloaded library");
      from_plugin[c - 2].clear();
    }
  }
  for (auto& v : from_plugin) {
    for (const Block& b : v) CheckAndFree(b, "block of an unloaded library");
  }
  stop = true;
  for (auto& th : ts) th.join();
  for (void* s : spacers) munmap(s, 1 << 16);
  printf("dlopen: %d load/unload cycles, %d blocks from the library (%llu bytes) freed after "
         "it was unloaded, %d program blocks freed by the library\n",
         cycles, cycles * kPerCycle, static_cast<unsigned long long>(plugin_bytes), by_plugin_freed);
  return 0;
}

// ---- thousands of threads ----

int Threads() {
  const int count = static_cast<int>(ArgInt("count", 2000));
  const int batch = static_cast<int>(ArgInt("batch", 100));
  // Before each count that is compared, the allocator's caches get time to decay (hakmem's
  // HAKMEM_DECAY_MS is 250 ms by default): what it still caches then depends on the
  // program's peak, not on how many threads came and went, and only the latter is a leak.
  const long settle_ms = ArgInt("settle-ms", 600);
  auto settled_mappings = [&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(settle_ms));
    return CountMappings();
  };
  Totals t;
  std::mutex mu;
  std::vector<Block> orphans;  // blocks whose thread has exited
  const long maps_before = CountMappings();
  long maps_peak = maps_before, maps_first = -1, maps_half = -1;
  for (int start = 0; start < count; start += batch) {
    const int n = start + batch <= count ? batch : count - start;
    std::vector<std::thread> ts;
    for (int i = 0; i < n; ++i) {
      const int id = start + i;
      ts.emplace_back([&, id] {
        Rng r(0x7000 + static_cast<uint64_t>(id));
        std::vector<Block> mine;
        for (int k = 0; k < 24; ++k) {
          size_t size = PickSize(r);
          if (k == 0) size = 100 << 10;
          if (k == 1) size = 300 << 10;
          mine.push_back(NewBlock(size, (static_cast<uint64_t>(id) << 16) | static_cast<uint64_t>(k)));
          t.Alloc(mine.back());
        }
        // Free half here; the rest outlives the thread.
        std::vector<Block> keep;
        for (size_t k = 0; k < mine.size(); ++k) {
          if (k % 2 == 0) {
            CheckAndFree(mine[k], "thread");
            t.Free(mine[k]);
          } else {
            keep.push_back(mine[k]);
          }
        }
        std::lock_guard<std::mutex> l(mu);
        orphans.insert(orphans.end(), keep.begin(), keep.end());
      });
    }
    const long maps = CountMappings();
    if (maps > maps_peak) maps_peak = maps;
    for (auto& th : ts) th.join();
    // The previous batch's orphans are freed by the main thread, which allocated none.
    for (const Block& b : orphans) {
      CheckAndFree(b, "orphan");
      t.Free(b);
    }
    orphans.clear();
    if (maps_first < 0) maps_first = settled_mappings();
    if (maps_half < 0 && start + batch >= count / 2) maps_half = settled_mappings();
  }
  const long maps_after = settled_mappings();
  Note("threads maps_before=%ld maps_after_first_batch=%ld maps_half=%ld maps_peak=%ld "
       "maps_after=%ld",
       maps_before, maps_first, maps_half, maps_peak, maps_after);
  // Whatever the first half left mapped (stacks the C library caches, the allocator's
  // spans and cached blocks, which grow with the heap's history for a while), the second
  // half may not add to: a thing left behind per thread would add about count/2 mappings,
  // one per batch count/(2*batch). Measured: 1 to 8 more at the end on a settled heap (an
  // earlier bound against the first batch, +32, failed on hakmem's own growth to its
  // plateau, 30 to 39 mappings over the first thousand threads, in CI).
  if (maps_after > maps_half + 24) {
    Fail("%ld mappings after %d threads were joined, %ld after the first half", maps_after,
         count, maps_half);
  }
  printf("threads: %d threads created and joined, %d at a time\n", count, batch);
  t.Print("threads");
  return 0;
}

// ---- a heap of several GiB of small blocks ----

int BigHeap() {
  const long mib = ArgInt("mib", 1024);
  const uint64_t target = static_cast<uint64_t>(mib) << 20;
  // The pointer array is mapped directly, so that it is no allocation under test.
  const size_t max_blocks = static_cast<size_t>(target / 16) + 1;
  void** ptrs = static_cast<void**>(mmap(nullptr, max_blocks * sizeof(void*), PROT_READ | PROT_WRITE,
                                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
  if (ptrs == MAP_FAILED) Fail("mmap of the pointer array: %s", strerror(errno));
  Rng r(0xB16);
  const long maps_before = CountMappings();
  uint64_t total = 0;
  size_t n = 0;
  long maps_peak = maps_before;
  while (total < target) {
    const size_t size = 16 + r.Below(1009);  // 16 .. 1 KiB
    void* p = g_malloc(size);
    if (p == nullptr) Fail("malloc(%zu) returned NULL after %llu bytes", size,
                           static_cast<unsigned long long>(total));
    // The first and last word: the page is touched, and overlaps show.
    const uint64_t id = Mix(n);
    __builtin_memcpy(p, &id, 8);
    __builtin_memcpy(static_cast<char*>(p) + size - 8, &id, 8);
    ptrs[n++] = p;
    total += size;
    if ((n & 0xFFFFF) == 0) {
      const long maps = CountMappings();
      if (maps > maps_peak) maps_peak = maps;
    }
  }
  const long maps_live = CountMappings();
  if (maps_live > maps_peak) maps_peak = maps_live;
  const long rss_live = ResidentBytes();
  // Check every block, then free in a scrambled order.
  Rng sizes(0xB16);
  for (size_t i = 0; i < n; ++i) {
    const size_t size = 16 + sizes.Below(1009);
    const uint64_t id = Mix(i);
    uint64_t a, b;
    __builtin_memcpy(&a, ptrs[i], 8);
    __builtin_memcpy(&b, static_cast<char*>(ptrs[i]) + size - 8, 8);
    if (a != id || b != id) Fail("block %zu of %zu bytes corrupted", i, size);
  }
  const size_t stride = 1000003;  // prime: visits every index once
  for (size_t k = 0, i = 0; k < n; ++k, i = (i + stride) % n) g_free(ptrs[i]);
  munmap(ptrs, max_blocks * sizeof(void*));
  HakApi hak = LookUpHak();
  if (hak.release_memory != nullptr) hak.release_memory();
  const long rss_after = ResidentBytes();
  const long max_maps = MaxMapCount();
  Note("bigheap blocks=%zu bytes=%llu maps_before=%ld maps_peak=%ld max_map_count=%ld "
       "rss_live=%ld rss_after_free=%ld",
       n, static_cast<unsigned long long>(total), maps_before, maps_peak, max_maps, rss_live,
       rss_after);
  // Far below the limit: a process needs most of it for itself.
  if (maps_peak > max_maps / 16) {
    Fail("%ld mappings with %llu MiB of small blocks live (vm.max_map_count %ld)", maps_peak,
         static_cast<unsigned long long>(mib), max_maps);
  }
  printf("bigheap: %zu blocks, %llu bytes live at once, all intact\n", n,
         static_cast<unsigned long long>(total));
  return 0;
}

// ---- a hundred thousand call sites ----

int Sites() {
  const int count = static_cast<int>(ArgInt("count", 100000));
  HakApi hak = LookUpHak();
  Totals t;
  Rng r(0x5175);
  char name[64];
  for (int i = 0; i < count; ++i) {
    snprintf(name, sizeof name, "reliability.site.%d", i);
    const size_t size = (64u << 10) + r.Below(256u << 10);  // routed: recorded exactly
    const uint64_t id = static_cast<uint64_t>(i);
    void* p;
    if (hak.site_register != nullptr) {
      const uint64_t site = hak.site_register(name);
      if (site == 0) Fail("hak_site_register(%s) returned 0", name);
      p = hak.malloc_at(size, site);
    } else {
      p = g_malloc(size);
    }
    if (p == nullptr) Fail("allocation at site %d returned NULL", i);
    Block b{p, size, id};
    Mark(b);
    t.Alloc(b);
    CheckMarkAndFree(b, "site");
    t.Free(b);
  }
  printf("sites: %d distinct explicit sites, one routed allocation each\n", count);
  t.Print("sites");
  return 0;
}

// fanout^3 calling contexts: Level1<a> calls Level2<b> calls Level3<c> calls malloc; each
// function is a distinct piece of code, so each (a, b, c) is a distinct context at depth 4.
constexpr int kMaxFanout = 48;
using Leaf = void* (*)(size_t);
using Mid = void* (*)(int, size_t);
using Top = void* (*)(int, int, size_t);

template <int C>
__attribute__((noinline)) void* Level3(size_t n) {
  void* p = g_malloc(n + C);
  __asm__ volatile("" ::: "memory");  // no tail call: this frame must be on the stack
  return p;
}
template <int... I>
constexpr std::array<Leaf, sizeof...(I)> LeafTable(std::integer_sequence<int, I...>) {
  return {&Level3<I>...};
}
const auto kLeaves = LeafTable(std::make_integer_sequence<int, kMaxFanout>());

template <int B>
__attribute__((noinline)) void* Level2(int c, size_t n) {
  void* p = kLeaves[c](n + B);
  __asm__ volatile("" ::: "memory");
  return p;
}
template <int... I>
constexpr std::array<Mid, sizeof...(I)> MidTable(std::integer_sequence<int, I...>) {
  return {&Level2<I>...};
}
const auto kMids = MidTable(std::make_integer_sequence<int, kMaxFanout>());

template <int A>
__attribute__((noinline)) void* Level1(int b, int c, size_t n) {
  void* p = kMids[b](c, n + A);
  __asm__ volatile("" ::: "memory");
  return p;
}
template <int... I>
constexpr std::array<Top, sizeof...(I)> TopTable(std::integer_sequence<int, I...>) {
  return {&Level1<I>...};
}
const auto kTops = TopTable(std::make_integer_sequence<int, kMaxFanout>());

int Contexts() {
  const int fanout = static_cast<int>(ArgInt("fanout", kMaxFanout));
  const int rounds = static_cast<int>(ArgInt("rounds", 1));
  if (fanout < 1 || fanout > kMaxFanout) Fail("--fanout must be 1..%d", kMaxFanout);
  Totals t;
  for (int round = 0; round < rounds; ++round) {
    for (int a = 0; a < fanout; ++a) {
      for (int b = 0; b < fanout; ++b) {
        for (int c = 0; c < fanout; ++c) {
          const size_t size = (64u << 10) + static_cast<size_t>((a * 7 + b * 3 + c) % 64) * 1024;
          const size_t actual = size + static_cast<size_t>(a + b + c);  // what Level3 asks for
          void* p = kTops[a](b, c, size);
          if (p == nullptr) Fail("context (%d, %d, %d): NULL", a, b, c);
          const uint64_t id = (static_cast<uint64_t>(round) << 32) | static_cast<uint64_t>((a * 64 + b) * 64 + c);
          Block blk{p, actual, id};
          Mark(blk);
          t.Alloc(blk);
          CheckMarkAndFree(blk, "context");
          t.Free(blk);
        }
      }
    }
  }
  printf("contexts: %d distinct calling contexts x %d rounds, one routed allocation each\n",
         fanout * fanout * fanout, rounds);
  t.Print("contexts");
  return 0;
}

// ---- processes that share the allocator's output files and exit together ----

int ExitTogether() {
  const int children = static_cast<int>(ArgInt("children", 8));
  const int fanout = static_cast<int>(ArgInt("fanout", 12));
  if (fanout < 1 || fanout > kMaxFanout) Fail("--fanout must be 1..%d", kMaxFanout);
  int gate[2];
  if (pipe(gate) != 0) Fail("pipe: %s", strerror(errno));
  fflush(stdout);
  std::vector<pid_t> pids;
  for (int k = 0; k < children; ++k) {
    const pid_t pid = fork();
    if (pid < 0) Fail("fork: %s", strerror(errno));
    if (pid == 0) {
      close(gate[1]);
      // Many sites, so that every child has a big report to write at exit; a different
      // number in each, so that the files differ in length.
      const int n = fanout - k % 3;
      for (int a = 0; a < n; ++a) {
        for (int b = 0; b < n; ++b) {
          for (int c = 0; c < n; ++c) {
            void* p = kTops[a](b, c, (64u << 10) + static_cast<size_t>(k) * 4096);
            if (p == nullptr) Fail("child %d: NULL", k);
            g_free(p);
          }
        }
      }
      char byte;
      while (read(gate[0], &byte, 1) < 0 && errno == EINTR) {
      }
      exit(0);  // all at once: every child writes the shared files at the same moment
    }
    pids.push_back(pid);
  }
  close(gate[0]);
  close(gate[1]);  // opens the gate
  for (pid_t pid : pids) WaitChild(pid, "child");
  printf("exit-together: %d children exited at once\n", children);
  fflush(stdout);
  // No exit handlers here: the children's files must be the last ones written.
  _exit(0);
}

// ---- soak ----

// Cycles of heavy and light load. A heavy phase: every thread fills its share of the
// heavy live set, then replaces blocks at random for a while (counted in operations, not
// time, so every heavy phase does the same work). A light phase: the threads free down to
// the light live set and trickle on. Resident memory at the end of each heavy phase must
// stay near the first one's (bounded: nothing accumulates from cycle to cycle), and in
// each light phase it must come back down (decay returns what is idle).
int Soak() {
  const int seconds = static_cast<int>(ArgInt("seconds", 20));
  const int nthreads = static_cast<int>(ArgInt("threads", 4));
  const long heavy_mib = ArgInt("heavy-mib", 256);  // live set of a heavy phase, all threads
  const long light_mib = ArgInt("light-mib", 4);
  const long heavy_ops = ArgInt("heavy-ops", 200000);  // replacements per thread at the cap
  const long slack_mib = ArgInt("slack-mib", 64);
  // How long a light phase may take to give memory back, at most (decay is 250 ms).
  const int settle_ms = static_cast<int>(ArgInt("settle-ms", 30000));

  std::atomic<int> phase{0};  // even: heavy, odd: light; -1: stop
  std::atomic<int> heavy_done{0};
  std::atomic<uint64_t> ops{0};
  std::vector<std::thread> ts;
  Totals t;
  for (int w = 0; w < nthreads; ++w) {
    ts.emplace_back([&, w] {
      Rng r(0x50A0 + static_cast<uint64_t>(w));
      std::vector<Block> live;
      uint64_t live_bytes = 0, seq = 0;
      auto free_one = [&] {
        const size_t i = r.Below(live.size());
        CheckAndFree(live[i], "soak");
        t.Free(live[i]);
        live_bytes -= live[i].size;
        live[i] = live.back();
        live.pop_back();
      };
      auto alloc_one = [&] {
        Block b = NewBlock(PickSize(r), (static_cast<uint64_t>(w) << 48) | seq++);
        t.Alloc(b);
        live.push_back(b);
        live_bytes += b.size;
        ops++;
      };
      int done_phase = -1;
      for (;;) {
        const int ph = phase.load();
        if (ph < 0) break;
        if (ph % 2 == 0) {
          if (done_phase == ph) {  // this thread's heavy work is done: wait for the rest
            SleepMs(1);
            continue;
          }
          const uint64_t cap = static_cast<uint64_t>(heavy_mib << 20) / static_cast<uint64_t>(nthreads);
          while (live_bytes < cap) alloc_one();
          for (long k = 0; k < heavy_ops; ++k) {
            free_one();
            alloc_one();
          }
          while (live_bytes > cap) free_one();
          done_phase = ph;
          heavy_done++;
        } else {
          const uint64_t cap = static_cast<uint64_t>(light_mib << 20) / static_cast<uint64_t>(nthreads);
          while (!live.empty() && live_bytes > cap) free_one();
          alloc_one();  // a trickle of requests
          if (live_bytes > cap) free_one();
          SleepMs(1);
        }
      }
      for (const Block& b : live) {
        CheckAndFree(b, "soak");
        t.Free(b);
      }
    });
  }
  const uint64_t start = NowMs();
  long first_heavy = -1;
  int cycles = 0;
  for (int ph = 0; ph % 2 == 1 || cycles < 2 || NowMs() - start < static_cast<uint64_t>(seconds) * 1000;
       ++ph) {
    if (ph % 2 == 0) {
      heavy_done = 0;
      phase = ph;
      while (heavy_done.load() < nthreads) SleepMs(20);
      const long rss = ResidentBytes();
      Note("soak phase=%d heavy rss_mib=%ld", ph, rss >> 20);
      if (first_heavy < 0) {
        first_heavy = rss;
      } else if (rss > first_heavy + first_heavy / 2 + (slack_mib << 20)) {
        Fail("soak: heavy phase %d ended at %ld MiB resident, the first at %ld MiB: memory grows "
             "from cycle to cycle", ph, rss >> 20, first_heavy >> 20);
      }
      continue;
    }
    phase = ph;
    // Comes down to half of what the first heavy phase held (plus slack: fragmentation
    // pins some spans, the learner keeps its curves); waits as long as that takes, up to
    // settle_ms, so that no preemption can fail it. Growth from cycle to cycle shows in
    // the heavy phases.
    const long want = first_heavy / 2 + (slack_mib << 20);
    const uint64_t settle_start = NowMs();
    SleepMs(500);  // decay's period and a pass (HAKMEM_DECAY_MS=250)
    long rss = ResidentBytes();
    while (rss > want && NowMs() - settle_start < static_cast<uint64_t>(settle_ms)) {
      SleepMs(100);
      rss = ResidentBytes();
    }
    Note("soak phase=%d light rss_mib=%ld after %llu ms", ph, rss >> 20,
         static_cast<unsigned long long>(NowMs() - settle_start));
    if (rss > want) {
      Fail("soak: light phase %d stayed at %ld MiB resident for %d ms (want at most %ld MiB; "
           "the first heavy phase ended at %ld MiB)", ph, rss >> 20, settle_ms, want >> 20,
           first_heavy >> 20);
    }
    ++cycles;
  }
  phase = -1;
  for (auto& th : ts) th.join();
  Note("soak cycles=%d ops=%llu", cycles, static_cast<unsigned long long>(ops.load()));
  if (t.allocs.load() != t.frees.load() || t.alloc_sig.load() != t.free_sig.load()) {
    Fail("soak: %llu allocated, %llu freed", static_cast<unsigned long long>(t.allocs.load()),
         static_cast<unsigned long long>(t.frees.load()));
  }
  printf("soak: %d heavy/light cycles, every block intact\n", cycles);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) Fail("usage: reliability COMMAND [--name=value ...] (see reliability.cc)");
  const std::string cmd = argv[1];
  for (int i = 2; i < argc; ++i) {
    const char* a = argv[i];
    const char* eq = strchr(a, '=');
    if (strncmp(a, "--", 2) != 0 || eq == nullptr) Fail("bad argument %s (want --name=value)", a);
    g_args[std::string(a + 2, eq)] = eq + 1;
  }
  if (cmd == "handoff") return Handoff();
  if (cmd == "larson") return Larson();
  if (cmd == "fork") return Fork();
  if (cmd == "fork-publish") return ForkPublish();
  if (cmd == "dlopen") return Dlopen();
  if (cmd == "threads") return Threads();
  if (cmd == "bigheap") return BigHeap();
  if (cmd == "sites") return Sites();
  if (cmd == "contexts") return Contexts();
  if (cmd == "exit-together") return ExitTogether();
  if (cmd == "soak") return Soak();
  Fail("unknown command %s", cmd.c_str());
}
