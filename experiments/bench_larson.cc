// Larson-like server workload: T threads, each holding an array of S slots of
// small blocks (16..512 bytes). In each round every thread replaces K random
// slots (free the old block, malloc a new one); between rounds the arrays rotate
// (thread i takes the array thread i+1 filled), so most frees hit blocks that a
// different thread allocated. That cross-thread free path (remote frees, owner
// lookups, per-thread cache draining) is what this bench exists to exercise;
// the original larson got the same effect by retiring threads and passing their
// arrays to newly spawned ones.
//
// Blocks get their first and last byte written, as in bench_random_mixed.
// One op = one malloc or one free; prints total M ops/s over all threads.
#include <pthread.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "experiments/bench_util.h"

namespace {

struct Shared {
  uint64_t threads, slots, rounds, ops_per_round, seed;
  std::vector<std::vector<unsigned char*>> arrays;  // arrays[k] is handed around
  pthread_barrier_t barrier;
  std::vector<uint64_t> checksum;  // one per thread; avoids sharing a cache line in the hot loop
};

unsigned char* NewBlock(bench::Rng& rng) {
  const size_t size = 16 + static_cast<size_t>(rng.Below(512 - 16 + 1));
  auto* p = static_cast<unsigned char*>(std::malloc(size));
  if (p == nullptr) {
    std::fprintf(stderr, "bench_larson: error: malloc(%zu) failed\n", size);
    std::exit(1);
  }
  p[0] = static_cast<unsigned char>(size);
  p[size - 1] = static_cast<unsigned char>(size >> 1);
  return p;
}

void Worker(Shared* sh, uint64_t tid) {
  bench::Rng rng(sh->seed * 0x100000001b3ULL + tid);
  uint64_t sum = 0;
  // Each thread fills its own initial array, so the first round's frees are
  // local and later rounds' frees are remote.
  for (auto& p : sh->arrays[tid]) p = NewBlock(rng);
  pthread_barrier_wait(&sh->barrier);  // start line, matched in main()

  for (uint64_t r = 0; r < sh->rounds; ++r) {
    std::vector<unsigned char*>& arr = sh->arrays[(tid + r) % sh->threads];
    for (uint64_t k = 0; k < sh->ops_per_round; ++k) {
      unsigned char*& p = arr[rng.Below(sh->slots)];
      sum += p[0];
      std::free(p);
      p = NewBlock(rng);
    }
    // Hand-off point: nobody may touch the next array until its previous user is done.
    pthread_barrier_wait(&sh->barrier);
  }
  sh->checksum[tid] = sum;
}

}  // namespace

int main(int argc, char** argv) {
  bench::Args args("bench_larson", {{"threads", 2},
                                    {"slots", 4096},
                                    {"rounds", 200},
                                    {"ops-per-round", 50000},
                                    {"seed", 42}});
  args.Parse(argc, argv);
  Shared sh;
  sh.threads = args.Get("threads");
  sh.slots = args.Get("slots");
  sh.rounds = args.Get("rounds");
  sh.ops_per_round = args.Get("ops-per-round");
  sh.seed = args.Get("seed");
  if (sh.threads > 1024) args.Fail("--threads must be at most 1024");
  bench::PrintAllocator();

  sh.arrays.assign(sh.threads, std::vector<unsigned char*>(sh.slots, nullptr));
  sh.checksum.assign(sh.threads, 0);
  // Workers + main share the barrier so main can time from a common start line.
  pthread_barrier_init(&sh.barrier, nullptr, static_cast<unsigned>(sh.threads + 1));

  std::vector<std::thread> workers;
  for (uint64_t t = 0; t < sh.threads; ++t) workers.emplace_back(Worker, &sh, t);
  pthread_barrier_wait(&sh.barrier);  // all arrays filled
  const double t0 = bench::NowSec();
  for (uint64_t r = 0; r < sh.rounds; ++r) pthread_barrier_wait(&sh.barrier);
  const double elapsed = bench::NowSec() - t0;
  for (auto& w : workers) w.join();
  pthread_barrier_destroy(&sh.barrier);

  uint64_t checksum = 0;
  for (uint64_t c : sh.checksum) checksum += c;
  for (auto& arr : sh.arrays) {
    for (unsigned char* p : arr) std::free(p);
  }

  // Each replacement is one free + one malloc.
  const uint64_t ops = 2 * sh.threads * sh.rounds * sh.ops_per_round;
  const double mops = static_cast<double>(ops) / elapsed / 1e6;
  std::printf("ops=%llu seconds=%.3f checksum=%llu\n",
              static_cast<unsigned long long>(ops), elapsed,
              static_cast<unsigned long long>(checksum));
  std::printf("result: name=larson threads=%llu slots=%llu rounds=%llu seconds=%.4f mops=%.2f\n",
              static_cast<unsigned long long>(sh.threads),
              static_cast<unsigned long long>(sh.slots),
              static_cast<unsigned long long>(sh.rounds), elapsed, mops);
  return 0;
}
