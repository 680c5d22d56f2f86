// The tournament itself: per (call site, size band), an Elo tournament between the
// strategies that may serve the band, fed with what each allocation cost. One instance
// is the preloaded learner (learner/learner.cc, behind the core's hooks, with measured
// costs); others are the replay engine's (learner/replay.h, in a Python process, with
// modelled costs). Both run this code, so a replay plays the same Elo updates, windows,
// decision rule and trial order as the live learner.
//
// Costs, in nanosecond-equivalents (weights in LearnParams, stored with every table):
// - allocator time of the allocation and of its free (pool frees are not followed, their
//   blocks carry no header);
// - page faults a fresh block causes: the pages the program touched times the cost of one
//   first-touch fault; memory that is reused (a BigCache hit, the pool) causes none;
// - memory held idle: MiB-seconds a freed block waits in BigCache before it is reused or
//   evicted, charged to the site that freed it.
//
// A strategy's window is its allocations since its last match; when every eligible
// strategy of a band has a full window, each pair plays a match on their mean cost per
// byte requested. While undecided, allocations go to the strategy with the fewest tries;
// once Decide() commits, a loser is still tried, at most explore_rate of the time and
// less the costlier it is, so a change in the program's behaviour can still show.
//
// Learn mode screens direct mapping by a model before it tries it (model_mmap). A live
// trial of it maps, faults in and unmaps a block, and in a band it loses that is the
// dearest allocation the learner makes: eight trials at each of mstress's nine (context,
// band) pairs cost it 0.1 s of its 0.16 s run. Its cost is the one that a model prices
// well from what the other strategies' blocks show (their sizes and touched pages), so
// until the model rates it ahead of the others, or has played three matches without
// putting it the commit margin behind, it is charged the model's cost for the other
// strategies' samples and not tried. Once the model cannot rule it out, it is measured
// live from then on, and no choice of it ever rests on the model alone.
//
// What the tournament tells the outside (a decision for the route, a decision or match
// for the curves, the time) goes through TournamentEvents. No lock is taken: counters are
// atomic and a match runs under a per-band try-lock that a busy thread skips. The site
// table is memory the owner hands in (zeroed arena memory in the preload).
#ifndef HAKMEM_LEARNER_TOURNAMENT_H_
#define HAKMEM_LEARNER_TOURNAMENT_H_

#include <stddef.h>
#include <stdint.h>

#include <atomic>

#include "core/large.h"
#include "core/strategy.h"
#include "learner/curve_records.h"
#include "learner/fault_cost.h"
#include "learner/table.h"

namespace hakmem {
namespace learner {

// x rounded to a uint64, saturating: a replayed trace's costs and times come from its
// file, any 64-bit values (py/replay.h), and a double past 2^64 (or NaN) has no uint64
// value. Costs are never negative; a negative or NaN x gives 0.
inline uint64_t SaturatingU64(double x) {
  if (!(x > 0)) return 0;
  return x >= 18446744073709549568.0 ? UINT64_MAX : static_cast<uint64_t>(x + 0.5);
}

// Allocations per strategy in a match window.
inline constexpr uint64_t kWindow = 8;

// A strategy's totals at one (site, band): what it served and what that cost, in parts
// (ns-equivalents, weighted as LearnParams says).
struct StrategyTotals {
  uint64_t tries;         // allocations served
  uint64_t modelled;      // samples priced by the model for allocations others served
  uint64_t sample_bytes;  // bytes requested by the samples (completed allocations)
  uint64_t time_ns, fault_ns, idle_ns;
  uint64_t faults;        // first-touch pages charged
  double idle_mib_s;      // MiB-seconds held idle in BigCache
};

// A snapshot of one (site, band) for reports and freezing.
struct BandView {
  bool seen;                  // the band had routed allocations
  uint64_t allocations;       // routed allocations of the band
  uint32_t matches;           // tournament matches played
  int chosen;                 // StrategyIndex, or -1
  bool eligible[kNumLearnedStrategies];
  double rating[kNumLearnedStrategies];
  uint64_t samples[kNumLearnedStrategies];
  double mean_cost_ns[kNumLearnedStrategies];
  StrategyTotals totals[kNumLearnedStrategies];
};

// What the tournament reports. Called on the allocating thread, never under a lock of
// the allocator's.
class TournamentEvents {
 public:
  // Learn mode: the strategy for the site's next allocation in `band` changed.
  virtual void Publish(uintptr_t site, int band, Strategy s) = 0;
  virtual void Decision(uintptr_t site, int band, DecisionKind kind, int from, int to,
                        uint64_t allocations) = 0;
  // A match record to fill (nullptr: not kept) and, once filled, its end.
  virtual MatchRecord* BeginMatch(uint64_t* index) = 0;
  virtual void EndMatch(MatchRecord* r, uint64_t index) = 0;
  // Nanoseconds since the run's start, for match records.
  virtual uint64_t NowNs() = 0;

 protected:
  ~TournamentEvents() = default;
};

struct TournamentConfig {
  LearnParams params;
  // Shadow mode's unit prices of strategies that did not run (and its seeds for the
  // measured BigCache hit and pool allocation, which it then learns as they run).
  OsCosts os;
  double hit_ns = 300;
  double pool_ns = 50;
  // Learn mode: choose each allocation's strategy (trials, then the choice and
  // exploration) and publish it. Off in shadow mode, where the route serves defaults.
  bool schedule_trials = false;
  // Shadow mode: charge the strategies that did not run with what they would have cost.
  bool counterfactuals = false;
  // Learn mode: direct mapping is priced by shadow mode's model (below) at every band
  // until the model fails to rule it out; only then is it tried live (tournament.cc).
  bool model_mmap = false;
  // Mixed into the exploration coin; 0 is the preloaded learner's.
  uint64_t seed = 0;
};

// A distribution of allocator times, in quarter-octave buckets from 8 ns to about 0.5 ms
// (lock-free counts), for a median that one preempted measurement cannot move: the
// prices the replay engine charges (telemetry's bigcache_hit_ns and pool_alloc_ns).
class TimeHistogram {
 public:
  static constexpr int kBuckets = 64;
  constexpr TimeHistogram() = default;
  void Add(double ns);
  // The median's bucket, as its geometric middle; 0 when empty.
  double MedianNs() const;
  void Clear();

 private:
  std::atomic<uint64_t> counts_[kBuckets] = {};
};

class Tournament {
 public:
  // Sites beyond this many are not learned (UnfollowedAllocations counts their requests).
  static constexpr uint32_t kMaxSites = 4096;
  // Slots a site's key may take, from its home slot on (linear probing). Bounded, so that
  // a request at a site the full table cannot take costs a few cache lines, not a scan
  // of all 4096 sites (about 25 us, on every routed request of every such site); a site
  // whose home run is taken is not learned, as if the table were full.
  static constexpr uint32_t kMaxProbes = 64;
  // The slot a key's probing starts at (for tests).
  static uint32_t HomeSlot(uintptr_t key);

  constexpr Tournament() = default;
  Tournament(const Tournament&) = delete;
  Tournament& operator=(const Tournament&) = delete;

  // Bytes of zeroed memory the site table needs (a few MiB, touched as sites arrive).
  static size_t MemoryBytes();
  // Takes `memory` (MemoryBytes(), zeroed, never handed back) and the configuration. Not thread-safe: before any
  // allocation reports.
  void Start(void* memory, const TournamentConfig& config, TournamentEvents* events);
  bool started() const { return sites_.load(std::memory_order_acquire) != nullptr; }
  const LearnParams& params() const { return config_.params; }
  const OsCosts& os_costs() const { return config_.os; }
  // What shadow mode currently charges for a BigCache hit and a pool allocation.
  double hit_ns() const { return hit_ns_.load(std::memory_order_relaxed); }
  double pool_ns() const { return pool_ns_.load(std::memory_order_relaxed); }
  uint64_t unfollowed() const { return unfollowed_.load(std::memory_order_relaxed); }
  // Allocation times taken for interference (a preempted measurement) and charged at the
  // strategy's mean instead (tournament.cc).
  uint64_t implausible() const { return implausible_.load(std::memory_order_relaxed); }
  // What a first touch of one 4 KiB page of a fresh block of `bytes` costs: the huge-page
  // price for blocks that get huge-page mappings, else `four_k` (fault_cost.h).
  double PagePrice(size_t bytes, double four_k) const {
    return config_.os.huge_fault_ns > 0 && bytes >= kHugeBlockBytes ? config_.os.huge_fault_ns
                                                                    : four_k;
  }
  // The median allocator time of BigCache hits and of pool allocations so far (0: none).
  double median_hit_ns() const { return hit_times_.MedianNs(); }
  double median_pool_ns() const { return pool_times_.MedianNs(); }

  // A routed allocation of `size` bytes at `site` in `band` served by `s` in `ns` of
  // allocator time; `fresh`: its memory came straight from the OS. Returns the handle of
  // the block (0: not followed); see core/learner_hooks.h for the four calls.
  uint32_t OnAlloc(uintptr_t site, int band, Strategy s, size_t size, double ns, bool fresh);
  void OnFree(uint32_t handle, Strategy s, size_t requested, double ns, uint64_t touched_pages,
              bool fresh, bool cached);
  void OnResize(uint32_t handle, Strategy s, double ns);
  void OnCacheIdle(uint32_t handle, size_t bytes, size_t requested, double idle_ns);

  // In a forked child: frees every band's match try-lock (a thread of the parent may have
  // held one at fork), so the child's bands go on learning.
  void ResetAfterFork();

  // Returns false if the tournament has nothing for the site.
  bool ViewSite(uintptr_t site, BandView out[kNumBands]) const;
  // Calls fn(site, band_views) for every site seen, in the order they arrived.
  void ForEachSite(void (*fn)(uintptr_t site, const BandView* bands, void* arg), void* arg) const;


  struct Site;
  struct BandState;

 private:
  Site* FindOrInsert(uintptr_t key, uint32_t* index);
  Site* SiteAt(uint32_t index) const;
  bool Lookup(uint32_t handle, BandState** band_state, int* band, uintptr_t* key) const;
  void RunMatches(uintptr_t key, BandState& b, int band);
  int NextTrial(uintptr_t key, BandState& b, int band);
  void ScheduleNextTrial(uintptr_t key, BandState& b, int band);
  void AfterSample(uintptr_t key, BandState& b, int band);
  void ChargeCounterfactuals(uintptr_t key, BandState& b, int band, int real, size_t bytes,
                             uint64_t touched);
  bool ModelsMmap(const BandState& b, int band) const;
  void ScreenMmap(BandState& b, const TableEntry& e, uint32_t number, int* chosen);
  void Fill(const BandState& b, int band, TableEntry* e) const;

  std::atomic<Site*> sites_{nullptr};
  // The slots in use (index + 1, in the order claimed): ForEachSite visits these, not
  // 4096 slots of mostly untouched memory. In the same memory as the sites.
  std::atomic<uint32_t>* used_ = nullptr;
  std::atomic<uint32_t> num_used_{0};
  std::atomic<uint64_t> unfollowed_{0};
  std::atomic<uint64_t> implausible_{0};
  TournamentConfig config_{};
  uint64_t seed_mix_ = 0;
  TournamentEvents* events_ = nullptr;
  // Shadow mode's unit costs of the strategies that do run, learned as they run (EWMA,
  // 1/16 weight).
  std::atomic<double> hit_ns_{300};
  std::atomic<double> pool_ns_{50};
  TimeHistogram hit_times_;
  TimeHistogram pool_times_;
};

}  // namespace learner
}  // namespace hakmem

#endif  // HAKMEM_LEARNER_TOURNAMENT_H_
