// Two call sites with a clear best strategy each, for learner/learn_freeze_test.py:
// CycleFrames cycles 2 MiB buffers, touching every page (reuse wins: BigCache), and
// ChurnBuffers churns 64 KiB buffers (the pool wins). Prints a checksum that depends only
// on the work done, so runs under different modes must print the same line.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? atoi(argv[1]) : 40;
  unsigned sum = 0;
  for (int r = 0; r < rounds; ++r) {
    sum += CycleFrames(4);
    sum += ChurnBuffers(200);
  }
  printf("checksum=%u\n", sum);
  return 0;
}
