// Three call sites with a clear best strategy each, for py/engine_test.py (a live learn
// run's decisions, reproduced by replaying its trace):
//   CycleFrames   2 MiB buffers, every page written, freed at once: reuse wins (BigCache);
//   ChurnBuffers  64 KiB buffers, 4 live, 256 bytes written: the pool wins;
//   RareSnapshots 8 MiB blocks, one page written, one every 20 ms: a cached block would
//                 sit idle 20 ms holding 8 MiB (160 us of idle cost at the default
//                 weight) to save one fault, so direct mapping wins.
// Prints a checksum that depends only on the work done.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

namespace {

__attribute__((noinline)) unsigned CycleFrames(int n) {
  unsigned sum = 0;
  for (int i = 0; i < n; ++i) {
    auto* p = static_cast<unsigned char*>(malloc(2 << 20));
    if (p == nullptr) abort();
    for (size_t off = 0; off < (2u << 20); off += 4096) p[off] = static_cast<unsigned char>(i);
    sum += p[4096];
    free(p);
  }
  return sum;
}

__attribute__((noinline)) unsigned ChurnBuffers(int n) {
  unsigned sum = 0;
  void* live[4] = {};
  for (int i = 0; i < n; ++i) {
    free(live[i & 3]);
    auto* p = static_cast<unsigned char*>(malloc(64 << 10));
    if (p == nullptr) abort();
    memset(p, i, 256);
    sum += p[100];
    live[i & 3] = p;
  }
  for (void* p : live) free(p);
  return sum;
}

__attribute__((noinline)) unsigned RareSnapshots(int round) {
  auto* p = static_cast<unsigned char*>(malloc(8 << 20));
  if (p == nullptr) abort();
  p[0] = static_cast<unsigned char>(round);
  const unsigned sum = p[0];
  free(p);
  return sum;
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? atoi(argv[1]) : 60;
  unsigned sum = 0;
  for (int r = 0; r < rounds; ++r) {
    sum += CycleFrames(4);
    sum += ChurnBuffers(200);
    sum += RareSnapshots(r);
    const struct timespec gap = {0, 20 * 1000 * 1000};
    nanosleep(&gap, nullptr);
  }
  printf("checksum=%u\n", sum);
  return 0;
}
