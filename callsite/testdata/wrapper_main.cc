// Functions that allocate only through a two-level wrapper in a shared library
// (wrapper_lib.cc), each with its own sizes and counts, for callsite_context_test.py.
//   wrapper_main            three functions with known counts, interleaved, one thread
//   wrapper_main --print    also prints a function's run-time address (ASLR check)
//   wrapper_main --learn    also two functions with a known best strategy each
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

extern "C" void* wrap_alloc(size_t n);
extern "C" void wrap_free(void* p);

volatile uintptr_t g_sink;

// Large requests are recorded exactly (every one), so counts are exact.
constexpr int kRounds = 200;
constexpr int kLearnRounds = 100;

extern "C" __attribute__((noinline)) void ParseTokens(int round) {
  void* p = wrap_alloc(300 * 1024);  // 300 KiB: band large
  g_sink += reinterpret_cast<uintptr_t>(p) + static_cast<uintptr_t>(round);
  wrap_free(p);
  asm volatile("" ::: "memory");
}

extern "C" __attribute__((noinline)) void BuildIndex(int round) {
  void* p = wrap_alloc(5 * 1024 * 1024);  // 5 MiB: band huge
  g_sink += reinterpret_cast<uintptr_t>(p) + static_cast<uintptr_t>(round);
  wrap_free(p);
  asm volatile("" ::: "memory");
}

extern "C" __attribute__((noinline)) void CacheRows(int round) {
  // Two blocks per round, from two calls, 1 MiB each: band large.
  void* a = wrap_alloc(1024 * 1024);
  void* b = wrap_alloc(1024 * 1024);
  g_sink += reinterpret_cast<uintptr_t>(a) + reinterpret_cast<uintptr_t>(b) +
            static_cast<uintptr_t>(round);
  wrap_free(b);
  wrap_free(a);
  asm volatile("" ::: "memory");
}

// Two sites of the same size band (256 KiB .. 4 MiB) through the same wrapper, with
// different best strategies: CycleFrames reuses 2 MiB frames back to back, touching every
// page (BigCache saves the faults), and SpillLog maps 3.5 MiB now and then and touches one
// page (holding it idle in BigCache costs more than mapping it afresh).
extern "C" __attribute__((noinline)) unsigned CycleFrames(int n) {
  unsigned sum = 0;
  for (int i = 0; i < n; ++i) {
    auto* p = static_cast<unsigned char*>(wrap_alloc(2 << 20));
    for (size_t off = 0; off < (2u << 20); off += 4096) p[off] = static_cast<unsigned char>(i);
    sum += p[4096];
    wrap_free(p);
  }
  return sum;
}

extern "C" __attribute__((noinline)) unsigned SpillLog(int round) {
  auto* p = static_cast<unsigned char*>(wrap_alloc(7 << 19));  // 3.5 MiB
  p[0] = static_cast<unsigned char>(round);
  const unsigned v = p[0];
  wrap_free(p);
  struct timespec ts = {0, 25 * 1000 * 1000};  // 25 ms before the next
  nanosleep(&ts, nullptr);
  return v;
}

int main(int argc, char** argv) {
  const bool learn = argc > 1 && strcmp(argv[1], "--learn") == 0;
  unsigned sum = 0;
  for (int i = 0; i < kRounds; ++i) {
    ParseTokens(i);
    BuildIndex(i);
    CacheRows(i);
    if (learn && i < kLearnRounds) {
      sum += CycleFrames(4);
      sum += SpillLog(i);
    }
  }
  printf("ParseTokens %d 307200\nBuildIndex %d 5242880\nCacheRows %d 1048576\n", kRounds,
         kRounds, 2 * kRounds);
  printf("checksum=%u\n", sum);
  if (!learn) {
    printf("address ParseTokens %p\n", reinterpret_cast<void*>(&ParseTokens));
  }
  return 0;
}
