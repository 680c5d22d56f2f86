#include "learner/elo.h"

#include "core/fastmath.h"

namespace hakmem {
namespace learner {

LearnParams DefaultParams() {
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

double ExpectedScore(double a, double b, double scale) {
  // 10^x as 2^(x log2 10), without libm (the preload links libc alone).
  double x = (b - a) / scale * 3.321928094887362;
  if (x > 1000) x = 1000;
  if (x < -1000) x = -1000;
  return 1.0 / (1.0 + Exp2(x));
}

double MatchScore(double cost_a, double cost_b, double draw_margin) {
  const double hi = cost_a > cost_b ? cost_a : cost_b;
  const double diff = cost_a - cost_b;
  if (hi <= 0 || __builtin_fabs(diff) <= draw_margin * hi) return 0.5;
  return diff < 0 ? 1.0 : 0.0;
}

double MarginMultiplier(double cost_a, double cost_b) {
  const double lo = cost_a < cost_b ? cost_a : cost_b;
  const double hi = cost_a < cost_b ? cost_b : cost_a;
  if (lo <= 0 || hi <= lo) return 1.0;
  const double m = 1.0 + Log(hi / lo);
  return m > 4.0 ? 4.0 : m;
}

void UpdateRatings(double* a, double* b, double score_a, const LearnParams& p,
                   double multiplier) {
  const double ea = ExpectedScore(*a, *b, p.elo_scale);
  const double delta = p.elo_k_factor * multiplier * (score_a - ea);
  *a += delta;
  *b -= delta;  // the expected scores sum to one, so the update is zero-sum
}

int Decide(const TableEntry& e, const LearnParams& p) {
  int best = -1;
  for (int i = 0; i < kNumLearnedStrategies; ++i) {
    if (!e.eligible[i]) continue;
    if (e.samples[i] < p.min_samples) return -1;
    if (best < 0 || e.rating[i] > e.rating[best]) best = i;
  }
  if (best < 0) return -1;
  for (int i = 0; i < kNumLearnedStrategies; ++i) {
    if (i == best || !e.eligible[i]) continue;
    if (e.rating[best] - e.rating[i] < p.commit_margin) return -1;
  }
  return best;
}

}  // namespace learner
}  // namespace hakmem
