// Large blocks: repeated 2 MiB allocations with every 4 KiB page written once,
// keeping a ring of R live blocks (default 4). Each cycle frees the oldest block
// and allocates a new one.
//
// 2 MiB sits right at the huge-page size and above most allocators' small/medium
// classes, so this measures the large-object path: whether freed spans are
// cached and reused or returned to the OS and faulted in again (page-fault cost
// dominates when they are not). Writing one byte per page makes that cost real
// without turning the bench into a memset bandwidth test.
//
// Prints ns per cycle (one free + one malloc + 512 page writes).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "experiments/bench_util.h"

namespace {
constexpr size_t kBlock = size_t{2} << 20;
constexpr size_t kPage = 4096;

unsigned char* NewBlock(uint64_t cycle) {
  auto* p = static_cast<unsigned char*>(std::malloc(kBlock));
  if (p == nullptr) {
    std::fprintf(stderr, "bench_large: error: malloc(%zu) failed\n", kBlock);
    std::exit(1);
  }
  for (size_t off = 0; off < kBlock; off += kPage) {
    p[off] = static_cast<unsigned char>(cycle + off);
  }
  return p;
}
}  // namespace

int main(int argc, char** argv) {
  bench::Args args("bench_large", {{"cycles", 100000}, {"live", 4}});
  args.Parse(argc, argv);
  const uint64_t cycles = args.Get("cycles");
  const uint64_t live = args.Get("live");
  bench::PrintAllocator();

  // Fill the ring before timing so every timed cycle is the same free+malloc shape.
  std::vector<unsigned char*> ring(live);
  for (uint64_t i = 0; i < live; ++i) ring[i] = NewBlock(i);

  uint64_t checksum = 0;
  const double t0 = bench::NowSec();
  for (uint64_t c = 0; c < cycles; ++c) {
    unsigned char*& slot = ring[c % live];  // oldest block in the ring
    checksum += slot[kPage];
    std::free(slot);
    slot = NewBlock(c);
  }
  const double elapsed = bench::NowSec() - t0;

  for (unsigned char* p : ring) std::free(p);

  const double ns = elapsed * 1e9 / static_cast<double>(cycles);
  std::printf("cycles=%llu seconds=%.3f checksum=%llu\n",
              static_cast<unsigned long long>(cycles), elapsed,
              static_cast<unsigned long long>(checksum));
  std::printf("result: name=large block_bytes=%zu live=%llu cycles=%llu seconds=%.4f ns_per_cycle=%.1f\n",
              kBlock, static_cast<unsigned long long>(live),
              static_cast<unsigned long long>(cycles), elapsed, ns);
  return 0;
}
