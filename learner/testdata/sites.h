// Call sites with a clear best strategy, shared by the test programs (two_sites.cc,
// py/testdata/three_sites.cc). Each is its own noinline function with the malloc call
// inside, so each is its own call site, named by its function in site reports.
#ifndef HAKMEM_LEARNER_TESTDATA_SITES_H_
#define HAKMEM_LEARNER_TESTDATA_SITES_H_

#include <stdlib.h>
#include <string.h>

namespace {

// 2 MiB buffers, every page written, freed at once: reuse wins (BigCache).
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

// 64 KiB buffers, 4 live, 256 bytes written: the pool wins.
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

#endif  // HAKMEM_LEARNER_TESTDATA_SITES_H_
