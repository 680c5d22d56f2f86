// Two call sites with a clear best strategy each, for learner/learn_freeze_test.py:
// CycleFrames cycles 2 MiB buffers, touching every page (reuse wins: BigCache), and
// ChurnBuffers churns 64 KiB buffers (the pool wins). Prints a checksum that depends only
// on the work done, so runs under different modes must print the same line.
#include <stdio.h>
#include <stdlib.h>

#include "learner/testdata/sites.h"

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
