// Random mixed: the classic single-thread allocator stress from earlier
// allocator work. A working set of W slots; every step picks a random slot and
// frees it if occupied, otherwise allocates a random size in [16, 1024].
// Occupancy therefore hovers around 50%, and the free order is random, which is
// what defeats simple LIFO free lists and bump allocators.
//
// Each new block gets its first and last byte written: enough to force the
// allocator to hand out real, writable memory (and to catch a too-small block
// under a sanitizer), while keeping memory bandwidth out of the measurement,
// which is meant to be dominated by malloc/free themselves.
//
// One op = one malloc or one free. Prints M ops/s.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "experiments/bench_util.h"

int main(int argc, char** argv) {
  bench::Args args("bench_random_mixed",
                   {{"slots", 8192}, {"steps", 20000000}, {"seed", 42}});
  args.Parse(argc, argv);
  const uint64_t slots = args.Get("slots");
  const uint64_t steps = args.Get("steps");
  bench::PrintAllocator();

  std::vector<unsigned char*> slot(slots, nullptr);
  bench::Rng rng(args.Get("seed"));
  uint64_t ops = 0;
  uint64_t checksum = 0;

  const double t0 = bench::NowSec();
  for (uint64_t i = 0; i < steps; ++i) {
    const uint64_t r = rng.Next();
    // Slot and size come from independent halves of one draw: one PRNG call per step.
    const uint64_t idx = static_cast<uint64_t>(
        (static_cast<unsigned __int128>(r & 0xffffffffULL) * slots) >> 32);
    unsigned char*& p = slot[idx];
    if (p != nullptr) {
      checksum += p[0];
      std::free(p);
      p = nullptr;
    } else {
      const size_t size = 16 + static_cast<size_t>((r >> 32) % (1024 - 16 + 1));
      p = static_cast<unsigned char*>(std::malloc(size));
      if (p == nullptr) {
        std::fprintf(stderr, "bench_random_mixed: error: malloc(%zu) failed\n", size);
        return 1;
      }
      p[0] = static_cast<unsigned char>(i);
      p[size - 1] = static_cast<unsigned char>(i >> 8);
    }
    ++ops;
  }
  const double elapsed = bench::NowSec() - t0;

  // Teardown is outside the timed region: it is a one-off bulk free, not the
  // steady-state behaviour being measured, but it must happen so leak checkers and
  // RSS-at-exit accounting see a clean heap.
  for (unsigned char*& p : slot) {
    if (p != nullptr) {
      checksum += p[0];
      std::free(p);
      p = nullptr;
    }
  }

  const double mops = static_cast<double>(ops) / elapsed / 1e6;
  std::printf("ops=%llu seconds=%.3f checksum=%llu\n",
              static_cast<unsigned long long>(ops), elapsed,
              static_cast<unsigned long long>(checksum));
  std::printf("result: name=random_mixed slots=%llu steps=%llu seconds=%.4f mops=%.2f\n",
              static_cast<unsigned long long>(slots),
              static_cast<unsigned long long>(steps), elapsed, mops);
  return 0;
}
