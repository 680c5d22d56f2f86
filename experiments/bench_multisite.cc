// Multi-site workload for the per-site strategy learner: three call sites, each
// allocating 64 KiB and up, whose best strategy differs, interleaved in one paced
// loop. Every site is its own noinline function with the malloc call inside it, so
// each has its own call site (its own key and its own symbol in the site report).
//
//   CycleFrameBuffers  2 MiB buffers (large band), one byte written per 4 KiB page,
//                      freed and reallocated at once, a ring of 4 live.
//                      Best: bigcache. A freed buffer is reused with its pages still
//                      mapped; mmap pays mmap + munmap + 512 first-touch faults per
//                      buffer. (The pool cannot serve 2 MiB.)
//   ChurnMessages      64 KiB buffers (middle band), a ring of 4 live, freed and
//                      reallocated at a high rate, only the first 256 bytes written.
//                      Best: pool. A free-list pop and push, no header, no syscall;
//                      bigcache adds a header, a cache exchange and an exact profile
//                      record per block; mmap adds two syscalls and a fault per block.
//   HoldSnapshots      4.25-13 MiB blocks (huge band), every page written, 4 live. Every
//                      50-90 ms one random live snapshot is freed and 10-30 ms later a
//                      replacement is taken, never of the size of a snapshot freed in
//                      the last 340 ms. Best: mmap. A cache can never serve the
//                      replacement (a freed mapping only serves requests of its own
//                      size class, and once the size comes back the decay pass has
//                      evicted it), so bigcache costs the same faults as mmap and only
//                      holds freed snapshots idle until eviction while their
//                      replacements are already live: more RSS for nothing.
//
// The loop runs `rounds` rounds of at least `period_ms` each (sleeping out the rest
// of a round, like a server on a tick), so the snapshot site's gaps are wall-clock
// gaps comparable to hakmem's decay period (250 ms) under every strategy, and a
// strategy that makes a site slower shows as that site's busy time rather than as a
// longer run. The sequence of operations depends only on the flags and --seed.
//
// Prints, per site, the time spent inside its function (allocation, first touch,
// free, and whatever decay pass the allocator runs on that call), and the sum:
//   result: name=multisite ... CycleFrameBuffers_s=S ChurnMessages_s=S HoldSnapshots_s=S
//           total_s=S wall_s=S late_rounds=N live_peak_mib=M
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "experiments/bench_util.h"

namespace {

constexpr size_t kPage = 4096;
constexpr size_t kMiB = size_t{1} << 20;

constexpr size_t kFrameBytes = 2 * kMiB;
constexpr size_t kLiveFrames = 4;

constexpr size_t kMessageBytes = 64 * 1024;
constexpr size_t kMessageWritten = 256;
constexpr size_t kLiveMessages = 4;

constexpr size_t kLiveSnapshots = 4;
// Snapshot sizes: 4.25 MiB + k * 1.25 MiB, k = 0..7 (4.25 to 13 MiB). Sizes 1.25 MiB apart
// always fall in different BigCache classes (they are at most 1 MiB wide below 16 MiB),
// and a cached mapping only serves requests of its own class.
constexpr int kSnapshotSizes = 8;
constexpr size_t kSnapshotBase = 4 * kMiB + kMiB / 4;
constexpr size_t kSnapshotStep = kMiB + kMiB / 4;
// Rounds between two snapshot frees, and from a free to its replacement.
constexpr uint64_t kFreeGapMin = 5, kFreeGapMax = 9;
constexpr uint64_t kReplaceDelayMin = 1, kReplaceDelayMax = 3;
// A replacement never takes the size of a snapshot freed in the last kRecentRounds
// rounds: at least 340 ms at the default 10 ms period (no round is shorter than one),
// past hakmem's 250 ms decay plus one decay pass interval, so whatever a cache still
// holds is never of the replacement's size. With frees at least kFreeGapMin rounds
// apart there are at most 7 such sizes, and 8 to choose from.
constexpr uint64_t kRecentRounds = 34;
static_assert((kRecentRounds - 1) / kFreeGapMin + 1 < kSnapshotSizes, "a size is always free");

[[noreturn]] void OutOfMemory(size_t size) {
  std::fprintf(stderr, "bench_multisite: error: malloc(%zu) failed\n", size);
  std::exit(1);
}

// One write per page: every page is faulted in unless the allocator reuses it mapped.
inline void TouchPages(unsigned char* p, size_t size, uint64_t salt) {
  for (size_t off = 0; off < size; off += kPage) p[off] = static_cast<unsigned char>(salt + off);
}

// ---------------------------------------------------------------- CycleFrameBuffers

struct FrameRing {
  unsigned char* slot[kLiveFrames] = {};
  uint64_t cycles = 0;
  size_t live_bytes = 0;
};

__attribute__((noinline)) uint64_t CycleFrameBuffers(FrameRing& ring, uint64_t count) {
  uint64_t sum = 0;
  for (uint64_t i = 0; i < count; ++i, ++ring.cycles) {
    unsigned char*& slot = ring.slot[ring.cycles % kLiveFrames];  // the oldest buffer
    if (slot != nullptr) {
      sum += slot[kPage];
      std::free(slot);
    }
    slot = static_cast<unsigned char*>(std::malloc(kFrameBytes));
    if (slot == nullptr) OutOfMemory(kFrameBytes);
    TouchPages(slot, kFrameBytes, ring.cycles);
  }
  ring.live_bytes = (ring.cycles < kLiveFrames ? ring.cycles : kLiveFrames) * kFrameBytes;
  return sum;
}

// ---------------------------------------------------------------- ChurnMessages

struct MessageRing {
  unsigned char* slot[kLiveMessages] = {};
  uint64_t count = 0;
  size_t live_bytes = 0;
};

__attribute__((noinline)) uint64_t ChurnMessages(MessageRing& ring, uint64_t count) {
  uint64_t sum = 0;
  for (uint64_t i = 0; i < count; ++i, ++ring.count) {
    unsigned char*& slot = ring.slot[ring.count % kLiveMessages];
    if (slot != nullptr) {
      sum += slot[kMessageWritten - 1];
      std::free(slot);
    }
    slot = static_cast<unsigned char*>(std::malloc(kMessageBytes));
    if (slot == nullptr) OutOfMemory(kMessageBytes);
    std::memset(slot, static_cast<int>(ring.count & 0xff), kMessageWritten);
  }
  ring.live_bytes = (ring.count < kLiveMessages ? ring.count : kLiveMessages) * kMessageBytes;
  return sum;
}

// ---------------------------------------------------------------- HoldSnapshots

struct Snapshot {
  unsigned char* p;
  size_t size;
};

struct RecentFree {
  uint64_t round;
  size_t size;
};

struct SnapshotSchedule {
  explicit SnapshotSchedule(uint64_t seed) : rng(seed ^ 0x5eed5eed5eed5eedULL) {}
  bench::Rng rng;
  std::vector<Snapshot> live;
  std::vector<RecentFree> recent;  // frees of the last kRecentRounds rounds
  uint64_t next_free = 0;          // set when the first snapshots are taken
  uint64_t next_alloc = 0;         // replacements are due from this round on
  uint64_t allocs = 0, frees = 0;
  size_t live_bytes = 0;

  uint64_t Uniform(uint64_t lo, uint64_t hi) { return lo + rng.Below(hi - lo + 1); }

  // A size no snapshot freed in the last kRecentRounds rounds had, drawn uniformly from
  // the sizes left (on the schedule's own PRNG, so the sequence depends only on --seed).
  size_t PickSize(uint64_t round) {
    bool taken[kSnapshotSizes] = {};
    size_t k = 0;
    while (k < recent.size()) {
      if (round - recent[k].round >= kRecentRounds) {
        recent.erase(recent.begin() + static_cast<ptrdiff_t>(k));
      } else {
        taken[(recent[k].size - kSnapshotBase) / kSnapshotStep] = true;
        ++k;
      }
    }
    int free_sizes = 0;
    for (bool t : taken) free_sizes += t ? 0 : 1;
    uint64_t pick = rng.Below(static_cast<uint64_t>(free_sizes));
    for (int i = 0; i < kSnapshotSizes; ++i) {
      if (!taken[i] && pick-- == 0) return kSnapshotBase + static_cast<size_t>(i) * kSnapshotStep;
    }
    std::abort();  // unreachable: the static_assert above leaves a size free
  }
};

__attribute__((noinline)) uint64_t HoldSnapshots(SnapshotSchedule& s, uint64_t round) {
  uint64_t sum = 0;
  if (round == s.next_free && !s.live.empty()) {
    const size_t victim = s.rng.Below(s.live.size());
    const Snapshot gone = s.live[victim];
    s.live.erase(s.live.begin() + static_cast<ptrdiff_t>(victim));
    sum += gone.p[gone.size / 2];
    std::free(gone.p);
    ++s.frees;
    s.live_bytes -= gone.size;
    s.recent.push_back({round, gone.size});
    s.next_alloc = round + s.Uniform(kReplaceDelayMin, kReplaceDelayMax);
    s.next_free = round + s.Uniform(kFreeGapMin, kFreeGapMax);
  }
  while (s.live.size() < kLiveSnapshots && round >= s.next_alloc) {
    const size_t size = s.PickSize(round);
    auto* p = static_cast<unsigned char*>(std::malloc(size));
    if (p == nullptr) OutOfMemory(size);
    TouchPages(p, size, s.allocs);
    s.live.push_back({p, size});
    ++s.allocs;
    s.live_bytes += size;
    if (s.allocs == kLiveSnapshots) s.next_free = round + s.Uniform(kFreeGapMin, kFreeGapMax);
  }
  return sum;
}

// ---------------------------------------------------------------- driver

enum SiteId : int { kFrames = 0, kMessages = 1, kSnapshots = 2, kNumSites = 3 };
constexpr const char* kSiteName[kNumSites] = {"CycleFrameBuffers", "ChurnMessages",
                                              "HoldSnapshots"};

// Runs `call` and charges its wall time to `seconds`.
template <typename F>
uint64_t Timed(double* seconds, F&& call) {
  const double t0 = bench::NowSec();
  const uint64_t r = call();
  *seconds += bench::NowSec() - t0;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  bench::Args args("bench_multisite", {{"rounds", 500},
                                        {"period_ms", 10},
                                        {"seed", 1},
                                        {"frames", 2},
                                        {"messages", 200}});
  args.Parse(argc, argv);
  const uint64_t rounds = args.Get("rounds");
  const uint64_t period_ms = args.Get("period_ms");
  const uint64_t seed = args.Get("seed");
  const uint64_t frames = args.Get("frames");
  const uint64_t messages = args.Get("messages");
  bench::PrintAllocator();

  FrameRing frame_ring;
  MessageRing message_ring;
  SnapshotSchedule snapshots(seed);
  double seconds[kNumSites] = {};
  uint64_t checksum = 0, late_rounds = 0;
  size_t live_peak = 0;

  using Clock = std::chrono::steady_clock;
  const auto period = std::chrono::milliseconds(period_ms);
  const double t0 = bench::NowSec();
  auto round_start = Clock::now();
  for (uint64_t r = 0; r < rounds; ++r) {
    // Frames first: the first request of 64 KiB and up after a decay pass falls due runs
    // the pass (under bigcache, unmapping idle snapshots) and is charged for it. Let the
    // frames take most passes, so they do not swamp the messages' tens of ns per request.
    checksum += Timed(&seconds[kFrames], [&] { return CycleFrameBuffers(frame_ring, frames); });
    checksum += Timed(&seconds[kSnapshots], [&] { return HoldSnapshots(snapshots, r); });
    checksum += Timed(&seconds[kMessages], [&] { return ChurnMessages(message_ring, messages); });
    const size_t live = frame_ring.live_bytes + message_ring.live_bytes + snapshots.live_bytes;
    if (live > live_peak) live_peak = live;
    // A round lasts at least one period; one that overran starts the next at once
    // without catching up, so rounds never get shorter than a period.
    const auto now = Clock::now();
    round_start += period;
    if (now < round_start) {
      std::this_thread::sleep_until(round_start);
    } else {
      ++late_rounds;
      round_start = now;
    }
  }
  const double wall = bench::NowSec() - t0;

  for (unsigned char* p : frame_ring.slot) std::free(p);
  for (unsigned char* p : message_ring.slot) std::free(p);
  for (const Snapshot& s : snapshots.live) std::free(s.p);

  const uint64_t counts[kNumSites] = {frame_ring.cycles, message_ring.count, snapshots.allocs};
  double total = 0;
  for (int i = 0; i < kNumSites; ++i) {
    total += seconds[i];
    std::printf("site %-17s seconds=%.4f allocs=%llu\n", kSiteName[i], seconds[i],
                static_cast<unsigned long long>(counts[i]));
  }
  std::printf("rounds=%llu wall=%.3f late_rounds=%llu snapshot_frees=%llu checksum=%llu\n",
              static_cast<unsigned long long>(rounds), wall,
              static_cast<unsigned long long>(late_rounds),
              static_cast<unsigned long long>(snapshots.frees),
              static_cast<unsigned long long>(checksum));
  std::printf("result: name=multisite rounds=%llu period_ms=%llu seed=%llu",
              static_cast<unsigned long long>(rounds), static_cast<unsigned long long>(period_ms),
              static_cast<unsigned long long>(seed));
  for (int i = 0; i < kNumSites; ++i) std::printf(" %s_s=%.4f", kSiteName[i], seconds[i]);
  std::printf(" total_s=%.4f wall_s=%.4f late_rounds=%llu live_peak_mib=%.1f\n", total, wall,
              static_cast<unsigned long long>(late_rounds),
              static_cast<double>(live_peak) / static_cast<double>(kMiB));
  return 0;
}
