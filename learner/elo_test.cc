#include "learner/elo.h"

#include <gtest/gtest.h>

namespace hakmem {
namespace learner {
namespace {

TEST(Elo, ExpectedScoreFollowsTheLogisticCurve) {
  EXPECT_NEAR(ExpectedScore(1500, 1500, 400), 0.5, 1e-12);
  EXPECT_NEAR(ExpectedScore(1900, 1500, 400), 10.0 / 11.0, 1e-7);  // 400 points: 10:1
  EXPECT_NEAR(ExpectedScore(1500, 1900, 400), 1.0 / 11.0, 1e-7);
  EXPECT_NEAR(ExpectedScore(1700, 1500, 400) + ExpectedScore(1500, 1700, 400), 1.0, 1e-7);
}

TEST(Elo, TheCheaperStrategyWinsAndNearTiesAreDraws) {
  EXPECT_EQ(MatchScore(100, 200, 0.05), 1.0);
  EXPECT_EQ(MatchScore(200, 100, 0.05), 0.0);
  EXPECT_EQ(MatchScore(100, 104, 0.05), 0.5);   // within 5% of the larger
  EXPECT_EQ(MatchScore(100, 106, 0.05), 1.0);
  EXPECT_EQ(MatchScore(0, 0, 0.05), 0.5);
}

TEST(Elo, UpdateIsZeroSumAndScaledByK) {
  LearnParams p = DefaultParams();
  double a = 1500, b = 1500;
  UpdateRatings(&a, &b, 1.0, p);
  EXPECT_NEAR(a, 1500 + p.elo_k_factor / 2, 1e-9);
  EXPECT_NEAR(b, 1500 - p.elo_k_factor / 2, 1e-9);
  // A favourite that only draws loses points; the underdog gains the same.
  double fav = 1700, dog = 1500;
  UpdateRatings(&fav, &dog, 0.5, p);
  EXPECT_LT(fav, 1700);
  EXPECT_NEAR(fav + dog, 3200, 1e-9);
  // A favourite that wins gains less than an equal would.
  fav = 1700, dog = 1500;
  UpdateRatings(&fav, &dog, 1.0, p);
  EXPECT_LT(fav - 1700, p.elo_k_factor / 2);
}

TableEntry Entry(double pool, double big, double mmap, uint64_t n, bool middle) {
  TableEntry e{};
  e.eligible[kIdxPool] = middle;
  e.eligible[kIdxBigCache] = e.eligible[kIdxMmap] = true;
  e.rating[kIdxPool] = pool;
  e.rating[kIdxBigCache] = big;
  e.rating[kIdxMmap] = mmap;
  for (uint64_t& s : e.samples) s = n;
  return e;
}

TEST(Decide, CommitsOnlyWithEnoughSamplesAndAClearLead) {
  const LearnParams p = DefaultParams();
  EXPECT_EQ(Decide(Entry(1600, 1500, 1400, p.min_samples, true), p), kIdxPool);
  EXPECT_EQ(Decide(Entry(1600, 1500, 1400, p.min_samples - 1, true), p), -1);  // too few
  EXPECT_EQ(Decide(Entry(1600, 1570, 1400, p.min_samples, true), p), -1);      // lead 30 < 50
  // Pool's rating is ignored where pool is not eligible.
  EXPECT_EQ(Decide(Entry(9999, 1560, 1500, p.min_samples, false), p), kIdxBigCache);
  EXPECT_EQ(Decide(Entry(0, 1500, 1560, p.min_samples, false), p), kIdxMmap);
  // Samples of an ineligible strategy do not matter either.
  TableEntry e = Entry(0, 1400, 1500, p.min_samples, false);
  e.samples[kIdxPool] = 0;
  EXPECT_EQ(Decide(e, p), kIdxMmap);
}

TEST(Tournament, RepeatedWinsCommitWithinAFewMatches) {
  // The loop the learner runs: windows of costs, a match per window, then Decide.
  const LearnParams p = DefaultParams();
  TableEntry e = Entry(p.elo_initial_rating, p.elo_initial_rating, p.elo_initial_rating, 0, false);
  int matches = 0;
  while (Decide(e, p) < 0 && matches < 100) {
    for (uint64_t& s : e.samples) s += 8;
    UpdateRatings(&e.rating[kIdxBigCache], &e.rating[kIdxMmap],
                  MatchScore(/*bigcache=*/5e3, /*mmap=*/5e6, p.draw_margin), p,
                  MarginMultiplier(5e3, 5e6));
    ++matches;
  }
  EXPECT_EQ(Decide(e, p), kIdxBigCache);
  EXPECT_EQ(matches, 1);  // 1000x dearer: ruled out in one match
}

TEST(Tournament, CloseCallsNeedSeveralMatches) {
  const LearnParams p = DefaultParams();
  TableEntry e = Entry(0, p.elo_initial_rating, p.elo_initial_rating, 0, false);
  int matches = 0;
  while (Decide(e, p) < 0 && matches < 100) {
    for (uint64_t& s : e.samples) s += 8;
    UpdateRatings(&e.rating[kIdxBigCache], &e.rating[kIdxMmap], MatchScore(1000, 1200, p.draw_margin),
                  p, MarginMultiplier(1000, 1200));
    ++matches;
  }
  EXPECT_EQ(Decide(e, p), kIdxBigCache);
  EXPECT_GE(matches, 2);
  EXPECT_LE(matches, 3);
}

TEST(Elo, MarginMultiplierGrowsWithTheCostRatioAndIsCapped) {
  EXPECT_DOUBLE_EQ(MarginMultiplier(100, 100), 1.0);
  EXPECT_NEAR(MarginMultiplier(100, 200), 1.0 + 0.6931, 1e-3);
  EXPECT_NEAR(MarginMultiplier(200, 100), MarginMultiplier(100, 200), 1e-12);
  EXPECT_DOUBLE_EQ(MarginMultiplier(1, 1e6), 4.0);
  EXPECT_DOUBLE_EQ(MarginMultiplier(0, 5), 1.0);
}

}  // namespace
}  // namespace learner
}  // namespace hakmem
