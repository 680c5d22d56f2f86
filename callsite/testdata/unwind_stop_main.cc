// Counts the preload unwinder's lookups of glibc's unwind data (callsite/unwind_stop.cc).
//
// The preload's private libgcc finds each frame's unwind tables through glibc's
// _dl_find_object. This program defines its own (exported with -rdynamic, so the
// preload's reference binds here first), which forwards to glibc's and counts the
// lookups that land in libc. It then allocates blocks of 64 KiB and up (routed, so each
// new call site is unwound) in three ways and prints one line per phase:
//   direct    lookups=N libc=M   from main and from functions main calls
//   thread    lookups=N libc=M   from a thread's function (glibc's start_thread above it)
//   via_libc  lookups=N libc=M   through strdup, so the walk starts inside libc
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <atomic>

namespace {

using FindObject = int (*)(void*, struct dl_find_object*);
std::atomic<FindObject> g_real{nullptr};
std::atomic<struct link_map*> g_libc{nullptr};
std::atomic<long> g_lookups{0};
std::atomic<long> g_libc_lookups{0};

constexpr size_t kBlock = 100000;  // routed: 64 KiB and up
constexpr int kCalls = 8;          // past the observations a new return address gets

struct Counts {
  long lookups;
  long libc;
};

// Keeps the optimizer from dropping a malloc/free pair.
void Use(void* p) {
  asm volatile("" : : "r"(p) : "memory");
  free(p);
}

Counts Snapshot() { return {g_lookups.load(), g_libc_lookups.load()}; }

void Print(const char* phase, Counts before, Counts after) {
  printf("%s lookups=%ld libc=%ld\n", phase, after.lookups - before.lookups,
         after.libc - before.libc);
}

__attribute__((noinline)) void AllocateHere() {
  for (int i = 0; i < kCalls; ++i) {
    Use(malloc(kBlock));
  }
  asm volatile("" ::: "memory");  // not a tail call: this frame stays on the stack
}

__attribute__((noinline)) void AllocateOneDown() {
  AllocateHere();
  asm volatile("" ::: "memory");
}

void* ThreadBody(void* out) {
  const Counts before = Snapshot();
  AllocateOneDown();
  *static_cast<Counts*>(out) = {g_lookups.load() - before.lookups,
                                g_libc_lookups.load() - before.libc};
  return nullptr;
}

// The unwinder must find its own frames' tables from the first allocation on (libgcc
// aborts otherwise), so glibc's is looked up at the first call: dlsym takes no malloc on
// success, and the loader's lock is recursive.
FindObject Real() {
  FindObject real = g_real.load(std::memory_order_acquire);
  if (real != nullptr) return real;
  real = reinterpret_cast<FindObject>(dlsym(RTLD_NEXT, "_dl_find_object"));
  if (real == nullptr) abort();
  struct dl_find_object libc;
  if (real(reinterpret_cast<void*>(&getpid), &libc) != 0) abort();
  g_libc.store(libc.dlfo_link_map);
  g_real.store(real, std::memory_order_release);
  return real;
}

}  // namespace

extern "C" __attribute__((visibility("default"))) int _dl_find_object(
    void* pc, struct dl_find_object* result) {
  const int rc = Real()(pc, result);
  if (rc == 0) {
    g_lookups.fetch_add(1);
    if (result->dlfo_link_map == g_libc.load()) g_libc_lookups.fetch_add(1);
  }
  return rc;
}

int main() {
  Real();
  printf("start\n");  // stdout's buffer is allocated here, outside every phase
  fflush(stdout);

  Counts before = Snapshot();
  for (int i = 0; i < kCalls; ++i) {
    Use(malloc(kBlock));
  }
  AllocateHere();
  AllocateOneDown();
  Counts after = Snapshot();
  Print("direct", before, after);

  pthread_t thread;
  Counts in_thread{};
  if (pthread_create(&thread, nullptr, ThreadBody, &in_thread) != 0) return 1;
  pthread_join(thread, nullptr);
  Print("thread", Counts{0, 0}, in_thread);

  char* big = static_cast<char*>(malloc(kBlock));
  memset(big, 'x', kBlock - 1);
  big[kBlock - 1] = '\0';
  before = Snapshot();
  for (int i = 0; i < kCalls; ++i) Use(strdup(big));
  after = Snapshot();
  free(big);
  Print("via_libc", before, after);
  return 0;
}
