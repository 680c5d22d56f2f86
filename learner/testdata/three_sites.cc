// Three call sites with a clear best strategy each, for py/engine_test.py (a live learn
// run's decisions, reproduced by replaying its trace): CycleFrames and ChurnBuffers
// (learner/testdata/sites.h: BigCache and the pool win), and
//   RareSnapshots 8 MiB blocks, one page written, one every 20 ms: a cached block would
//                 sit idle 20 ms holding 8 MiB (160 us of idle cost at the default
//                 weight) to save one fault, so direct mapping wins (with 4 KiB pages:
//                 with huge pages the byte faults in 2 MiB, and reuse wins instead;
//                 learner/shadow_test.py runs it with HAKMEM_HUGE_PAGES=0).
// Prints a checksum that depends only on the work done.
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "learner/testdata/sites.h"

namespace {

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
