// The learner: per (call site, size band), an Elo tournament between the strategies that
// may serve the band, fed with what each allocation actually cost, and a decision
// published to the route table (core/route_table.h), which is all the route ever reads.
//
// Costs, in nanosecond-equivalents (weights in LearnParams, stored with every table):
// - allocator time of the allocation and of its free (cycleclock around the strategy's
//   own work; pool frees are not followed, their blocks carry no header);
// - page faults a fresh block causes: the pages the program touched (mincore at free)
//   times the cost of one first-touch fault, measured once at start-up (fault_cost.h);
//   memory that is reused (a BigCache hit, the pool) causes none;
// - memory held idle: MiB-seconds a freed block waits in BigCache before it is reused or
//   evicted, charged to the site that freed it.
//
// A strategy's window is its allocations since its last match; when every eligible
// strategy of a band has a full window, each pair plays a match on their mean cost per
// allocation. While undecided, allocations go to the strategy with the fewest tries;
// once Decide() commits, a loser is still tried, at most explore_rate of the time and
// less the costlier it is, so a change in the program's behaviour can still show.
//
// Nothing here is on the small-object fast path: the route calls in for requests of
// 64 KiB and up, and only when the learner measures (learn and shadow modes). No lock is
// taken on any allocation path: counters are atomic and a match runs under a per-band
// try-lock that a busy thread skips. Memory comes from the internal arena.
#ifndef HAKMEM_LEARNER_LEARNER_H_
#define HAKMEM_LEARNER_LEARNER_H_

#include <stddef.h>
#include <stdint.h>

#include "core/options.h"
#include "core/strategy.h"
#include "learner/fault_cost.h"
#include "learner/table.h"

namespace hakmem {
namespace learner {

// Allocations per strategy in a match window.
inline constexpr uint64_t kWindow = 8;

LearnMode Mode();
// Learn or shadow mode: measures the fault cost and starts following routed allocations.
void StartMeasuring(LearnMode mode);
// Frozen mode: records the mode (the table itself is published by frozen.h).
void SetFrozenMode();
const LearnParams& Params();
// What MeasureOsCosts found at start-up (learn and shadow modes; typical figures before).
const OsCosts& MeasuredOsCosts();
// Routed allocations at sites the learner could not follow: its table (4096 sites) was
// full.
uint64_t UnfollowedAllocations();

// A strategy's totals at one (site, band): what it served and what that cost, in parts
// (ns-equivalents, weighted as LearnParams says).
struct StrategyTotals {
  uint64_t tries;         // allocations served
  uint64_t sample_bytes;  // bytes requested by the samples (completed allocations)
  uint64_t time_ns, fault_ns, idle_ns;
  uint64_t faults;        // first-touch pages charged
  double idle_mib_s;      // MiB-seconds held idle in BigCache
};

// A snapshot of one (site, band) for reports and freezing. Returns false if the learner
// has nothing for the site.
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
bool ViewSite(uintptr_t site, BandView out[kNumBands]);

// Calls fn(site, band_views) for every site the learner has seen.
void ForEachSite(void (*fn)(uintptr_t site, const BandView* bands, void* arg), void* arg);

// For tests: feeds one allocation's whole cost to (site, band, strategy) as if measured,
// and runs the tournament as the route would.
void RecordForTest(uintptr_t site, int band, int strategy_index, double cost_ns);
void ResetForTest(LearnMode mode);

}  // namespace learner
}  // namespace hakmem

#endif  // HAKMEM_LEARNER_LEARNER_H_
