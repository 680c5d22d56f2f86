// The tournament's arithmetic: Elo rating updates from cost comparisons, and the rule
// that turns ratings and sample counts into a committed choice. Pure functions with no
// state and no allocation, shared by the preloaded learner and the `hakmem` tools.
#ifndef HAKMEM_LEARNER_ELO_H_
#define HAKMEM_LEARNER_ELO_H_

#include <stdint.h>

#include "learner/table.h"

namespace hakmem {
namespace learner {

// The defaults, documented in learner/README.md and stored in every table. constexpr:
// the learner's globals must be constant-initialized, since the allocator may start the
// learner before any dynamic initializer of the library has run.
constexpr LearnParams DefaultParams() {
  LearnParams p{};
  p.elo_initial_rating = 1500;
  // K = 24: a match between equals moves each by 12 points, so with commit_margin = 50 a
  // strategy that keeps winning by a little commits after 3 matches, one that is far
  // cheaper after 1 (MarginMultiplier), and one surprise result cannot undo a commitment.
  p.elo_k_factor = 24;
  p.elo_scale = 400;
  // Costs within 5% are a draw: below the run-to-run noise of a wall-clock measurement.
  p.draw_margin = 0.05;
  // One full 8-allocation window per strategy before committing.
  p.min_samples = 8;
  p.commit_margin = 50;
  // While undecided every eligible strategy is tried in turn; after a commitment a loser
  // is explored at most this often, and less when it is costly (see learner.cc).
  p.explore_rate = 1.0 / 64;
  p.weight_time = 1.0;
  p.weight_faults = 1.0;
  // 1 ms per MiB-second: holding 100 MiB idle for a second weighs as much as 100 ms of
  // allocator time. Below this a cache that never hands its blocks back looks free.
  p.weight_idle_ns_per_mib_second = 1e6;
  p.fault_ns = 0;  // measured at start-up
  return p;
}


// Expected score of a player rated `a` against one rated `b`: 1 / (1 + 10^((b - a) / scale)).
double ExpectedScore(double a, double b, double scale);

// Outcome of a match between strategies with mean costs `cost_a` and `cost_b` per
// allocation: 1 (a cheaper), 0 (b cheaper) or 0.5 (a draw: the costs differ by less than
// `draw_margin` of the larger).
double MatchScore(double cost_a, double cost_b, double draw_margin);

// Moves both ratings by the Elo update for a match that `a` scored `score_a` in:
// K * multiplier * (score - expected). `multiplier` is MarginMultiplier() of the match.
void UpdateRatings(double* a, double* b, double score_a, const LearnParams& p,
                   double multiplier = 1.0);

// Margin of victory: 1 + ln(dearer / cheaper), at most 4. Exploring a strategy costs what
// that strategy costs, so one that is 1000x dearer (direct mapping of a block that could
// be reused) must be ruled out in one match, not three; close calls still need several.
// (Sports Elo systems scale K by the margin of victory the same way.)
double MarginMultiplier(double cost_a, double cost_b);

// The committed choice for an entry: the eligible strategy with the highest rating, if
// every eligible strategy has at least p.min_samples samples and the leader is ahead of
// every other eligible strategy by at least p.commit_margin points. -1 otherwise.
int Decide(const TableEntry& e, const LearnParams& p);

}  // namespace learner
}  // namespace hakmem

#endif  // HAKMEM_LEARNER_ELO_H_
