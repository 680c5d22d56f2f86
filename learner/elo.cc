#include "learner/elo.h"

#include "core/fastmath.h"

namespace hakmem {
namespace learner {

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
