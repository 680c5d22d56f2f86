// The tournament as an instance (the replay engine's use): independent instances, the
// events it reports, the exploration seed, and the time histogram behind the prices.
#include "learner/tournament.h"

#include <stdlib.h>

#include <algorithm>
#include <memory>
#include <vector>

#include <gtest/gtest.h>

#include "learner/elo.h"

namespace hakmem {
namespace learner {
namespace {

// Keeps what the tournament reports.
class Recorder final : public TournamentEvents {
 public:
  void Publish(uintptr_t site, int band, Strategy s) override { published.push_back(s); }
  void Decision(uintptr_t, int, DecisionKind kind, int, int to, uint64_t allocations) override {
    decisions.push_back({kind, to, allocations});
  }
  MatchRecord* BeginMatch(uint64_t* index) override {
    *index = 0;
    return &scratch;
  }
  void EndMatch(MatchRecord* r, uint64_t) override { matches.push_back(r->number); }
  uint64_t NowNs() override { return 0; }

  struct Made {
    DecisionKind kind;
    int to;
    uint64_t allocations;
    bool operator==(const Made& o) const {
      return kind == o.kind && to == o.to && allocations == o.allocations;
    }
  };
  std::vector<Strategy> published;
  std::vector<Made> decisions;
  std::vector<uint32_t> matches;
  MatchRecord scratch{};
};

struct Instance {
  explicit Instance(uint64_t seed, double explore_rate = 1.0 / 64) {
    memory.reset(static_cast<char*>(calloc(1, Tournament::MemoryBytes())));
    TournamentConfig c;
    c.params = DefaultParams();
    c.params.fault_ns = 1000;
    c.params.explore_rate = explore_rate;
    c.schedule_trials = true;
    c.seed = seed;
    t.Start(memory.get(), c, &events);
  }
  // Serves n allocations of a middle-band site as the route would, each costing `cost`
  // of its strategy (a pool allocation's cost is whole at once).
  void Serve(uintptr_t site, int n, const double cost[kNumLearnedStrategies]) {
    for (int i = 0; i < n; ++i) {
      const Strategy s = events.published.empty() ? Strategy::kPool : events.published.back();
      const uint32_t h = t.OnAlloc(site, kBandMiddle, s, 64 << 10, cost[static_cast<int>(s) - 1], true);
      if (s != Strategy::kPool) t.OnFree(h, s, 64 << 10, 0, 0, true, false);
    }
  }
  struct Free {
    void operator()(char* p) const { free(p); }
  };
  std::unique_ptr<char, Free> memory;
  Recorder events;
  Tournament t;
};

constexpr double kCosts[kNumLearnedStrategies] = {40, 900, 30000};

// A key probes at most kMaxProbes slots from its home slot: with the table full (a
// program of more than 4096 sites), every routed request at a site it cannot take used to
// scan all 4096 sites first, about 25 us each time. Keys that share a home slot fill its
// run; the next one is not followed, and costs no scan.
TEST(Tournament, ProbingIsBoundedAndSitesPastTheBoundAreNotFollowed) {
  Instance a(0);
  std::vector<uintptr_t> same_home;
  for (uintptr_t key = 0x10000; same_home.size() <= Tournament::kMaxProbes; key += 16) {
    if (Tournament::HomeSlot(key) == Tournament::HomeSlot(0x10000)) same_home.push_back(key);
  }
  for (size_t i = 0; i < Tournament::kMaxProbes; ++i) {
    EXPECT_NE(a.t.OnAlloc(same_home[i], kBandMiddle, Strategy::kPool, 64 << 10, 50, true), 0u) << i;
  }
  const uint64_t unfollowed = a.t.unfollowed();
  EXPECT_EQ(a.t.OnAlloc(same_home.back(), kBandMiddle, Strategy::kPool, 64 << 10, 50, true), 0u);
  EXPECT_EQ(a.t.unfollowed(), unfollowed + 1);
  BandView v[kNumBands];
  EXPECT_TRUE(a.t.ViewSite(same_home.front(), v));
  EXPECT_FALSE(a.t.ViewSite(same_home.back(), v));
  // Every site within the bound is still found.
  for (size_t i = 0; i < Tournament::kMaxProbes; ++i) EXPECT_TRUE(a.t.ViewSite(same_home[i], v)) << i;
}

TEST(Tournament, InstancesAreIndependentAndReportThroughTheirEvents) {
  Instance a(0), b(0);
  a.Serve(0x1000, 400, kCosts);
  BandView v[kNumBands];
  ASSERT_TRUE(a.t.ViewSite(0x1000, v));
  EXPECT_EQ(v[kBandMiddle].chosen, kIdxPool);
  EXPECT_FALSE(b.t.ViewSite(0x1000, v));  // b saw nothing
  ASSERT_FALSE(a.events.decisions.empty());
  EXPECT_EQ(a.events.decisions[0].kind, DecisionKind::kTrialsBegin);
  EXPECT_FALSE(a.events.matches.empty());
  EXPECT_EQ(a.events.matches[0], 1u);
  // Trials alternate before the commitment: every strategy was published.
  EXPECT_NE(std::find(a.events.published.begin(), a.events.published.end(), Strategy::kMmap),
            a.events.published.end());
}

TEST(Tournament, TheSameSeedExploresTheSameWayAndAnotherDoesNot) {
  Instance a(5, 1.0), b(5, 1.0), c(6, 1.0);
  for (Instance* i : {&a, &b, &c}) i->Serve(0x2000, 3000, kCosts);
  auto explores = [](const Instance& i) {
    std::vector<Recorder::Made> e;
    for (const Recorder::Made& m : i.events.decisions) {
      if (m.kind == DecisionKind::kExplore) e.push_back(m);
    }
    return e;
  };
  ASSERT_GT(explores(a).size(), 3u);
  EXPECT_EQ(explores(a), explores(b));
  EXPECT_NE(explores(a), explores(c));
}

TEST(TimeHistogram, TheMedianIgnoresAFewHugeOutliers) {
  TimeHistogram h;
  EXPECT_EQ(h.MedianNs(), 0);
  for (int i = 0; i < 1000; ++i) h.Add(40);
  for (int i = 0; i < 30; ++i) h.Add(5e6);  // preempted measurements
  EXPECT_GE(h.MedianNs(), 40 / 1.2);
  EXPECT_LE(h.MedianNs(), 40 * 1.2);
  h.Clear();
  for (int i = 0; i < 10; ++i) h.Add(3);     // below the first bucket
  EXPECT_LT(h.MedianNs(), 10);
  h.Clear();
  h.Add(1e12);                                // past the last
  EXPECT_GT(h.MedianNs(), 4e5);
}

}  // namespace
}  // namespace learner
}  // namespace hakmem
