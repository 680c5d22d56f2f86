// The preloaded learner: the process's one Tournament (learner/tournament.h, which says
// how it learns), fed through the core's hooks (core/learner_hooks.h) with what each
// routed allocation cost, and publishing to the route table (core/route_table.h), which
// is all the route ever reads.
//
// Nothing here is on the small-object fast path: the route calls in for requests of
// 64 KiB and up, and only when the learner measures (learn and shadow modes). Memory
// comes from the internal arena.
#ifndef HAKMEM_LEARNER_LEARNER_H_
#define HAKMEM_LEARNER_LEARNER_H_

#include <stddef.h>
#include <stdint.h>

#include "core/options.h"
#include "core/strategy.h"
#include "learner/fault_cost.h"
#include "learner/table.h"
#include "learner/tournament.h"

namespace hakmem {
namespace learner {

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
// What a BigCache hit and a pool allocation cost, as measured so far (the median of the
// routed ones, to a quarter octave; typical figures before any).
double MeasuredHitNs();
double MeasuredPoolNs();

// A snapshot of one (site, band) (tournament.h). Returns false if the learner has
// nothing for the site.
bool ViewSite(uintptr_t site, BandView out[kNumBands]);

// Calls fn(site, band_views) for every site the learner has seen.
void ForEachSite(void (*fn)(uintptr_t site, const BandView* bands, void* arg), void* arg);


}  // namespace learner
}  // namespace hakmem

#endif  // HAKMEM_LEARNER_LEARNER_H_
