// The tournament as an instance (the replay engine's use): independent instances, the
// events it reports, the exploration seed, and the time histogram behind the prices.
#include "learner/tournament.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "learner/elo.h"

namespace hakmem {
namespace learner {
namespace {

// Keeps what the tournament reports.
// Keeps what the tournament reports. Thread-safe: the tournament reports on whichever
// thread allocates (ManyThreadsAndSitesAtOnce feeds one instance from four).
class Recorder final : public TournamentEvents {
 public:
  void Publish(uintptr_t site, int band, Strategy s) override {
    std::lock_guard<std::mutex> l(mu_);
    published.push_back(s);
    published_to.push_back({{site, band}, s});
  }
  void Decision(uintptr_t, int, DecisionKind kind, int, int to, uint64_t allocations) override {
    std::lock_guard<std::mutex> l(mu_);
    decisions.push_back({kind, to, allocations});
  }
  MatchRecord* BeginMatch(uint64_t* index) override {
    *index = 0;
    static thread_local MatchRecord scratch{};
    return &scratch;
  }
  void EndMatch(MatchRecord* r, uint64_t) override {
    std::lock_guard<std::mutex> l(mu_);
    matches.push_back(r->number);
  }
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
  std::vector<std::pair<std::pair<uintptr_t, int>, Strategy>> published_to;
  std::vector<Made> decisions;
  std::vector<uint32_t> matches;

 private:
  std::mutex mu_;
};

struct Instance {
  explicit Instance(uint64_t seed, double explore_rate = 1.0 / 64, bool learn = true,
                    double huge_fault_ns = 0, bool model_mmap = true) {
    memory.reset(static_cast<char*>(calloc(1, Tournament::MemoryBytes())));
    TournamentConfig c;
    c.params = DefaultParams();
    c.params.fault_ns = 1000;
    c.params.explore_rate = explore_rate;
    c.os = OsCosts{1000, 2000, 2000, 100, huge_fault_ns};
    c.schedule_trials = learn;
    c.counterfactuals = !learn;  // shadow mode
    c.model_mmap = learn && model_mmap;  // as the preloaded learner does
    c.seed = seed;
    t.Start(memory.get(), c, &events);
  }
  // The strategy the route would use for the site's next allocation: the last one the
  // tournament published for it, else the band's default.
  Strategy Next(uintptr_t site, int band) const {
    auto it = route.find({site, band});
    return it == route.end() ? DefaultStrategy(band) : it->second;
  }
  // Serves n allocations of 1 MiB at (site, band) as the route would, each costing
  // `cost` (ns) of the serving strategy's time, through the real calls: a pool block's
  // cost is whole at allocation, a mapped block's at its free (followed blocks only).
  // Returns how many each strategy served.
  std::vector<int> Serve(uintptr_t site, int band, const double cost[kNumLearnedStrategies], int n) {
    std::vector<int> served(kNumLearnedStrategies, 0);
    for (int i = 0; i < n; ++i) {
      const Strategy s = Next(site, band);
      ++served[static_cast<int>(s) - 1];
      const double ns = cost[static_cast<int>(s) - 1];
      const uint32_t h = t.OnAlloc(site, band, s, 1 << 20, s == Strategy::kPool ? ns : ns / 2, false);
      if (s != Strategy::kPool) t.OnFree(h, s, 1 << 20, ns / 2, 0, false, false);
      for (const auto& [key, strategy] : events.published_to) route[key] = strategy;
      events.published_to.clear();
    }
    return served;
  }
  int Chosen(uintptr_t site, int band) const {
    BandView v[kNumBands];
    if (!t.ViewSite(site, v)) return -2;
    return v[band].chosen;
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
  std::map<std::pair<uintptr_t, int>, Strategy> route;
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
  // Trials alternate before the commitment: both strategies tried live were published.
  // Direct mapping was not: the model (4000 ns a block) ruled it out against the pool.
  EXPECT_NE(std::find(a.events.published.begin(), a.events.published.end(),
                      Strategy::kBigCache),
            a.events.published.end());
  EXPECT_EQ(std::find(a.events.published.begin(), a.events.published.end(), Strategy::kMmap),
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

TEST(Tournament, LearnModeFindsTheCheapestStrategyAtEachSiteAndPublishesIt) {
  Instance a(0);
  const uintptr_t frames = 0x1000, churn = 0x2000, snapshots = 0x3000;
  const double frames_cost[] = {0, 5e3, 5e6}, churn_cost[] = {50, 400, 3e5},
               snapshot_cost[] = {0, 2e6, 1e6};
  a.Serve(frames, kBandLarge, frames_cost, 200);
  a.Serve(churn, kBandMiddle, churn_cost, 400);
  a.Serve(snapshots, kBandHuge, snapshot_cost, 200);
  EXPECT_EQ(a.Chosen(frames, kBandLarge), kIdxBigCache);
  EXPECT_EQ(a.Chosen(churn, kBandMiddle), kIdxPool);
  EXPECT_EQ(a.Chosen(snapshots, kBandHuge), kIdxMmap);
  EXPECT_EQ(a.Next(frames, kBandLarge), Strategy::kBigCache);
  EXPECT_EQ(a.Next(snapshots, kBandHuge), Strategy::kMmap);
  // After committing, the route mostly serves the choice: exploring a strategy 1000x
  // dearer happens about explore_rate / 1000 of the time.
  const std::vector<int> after = a.Serve(frames, kBandLarge, frames_cost, 2000);
  EXPECT_GE(after[kIdxBigCache], 1995);
  const std::vector<int> churn_after = a.Serve(churn, kBandMiddle, churn_cost, 2000);
  EXPECT_GE(churn_after[kIdxPool], 1900);
  EXPECT_GE(churn_after[kIdxBigCache], 1);  // a cheap loser is still explored now and then
}

TEST(Tournament, EqualCostsNeverCommit) {
  // The Elo rule alone: direct mapping measured live from the start (the model would
  // price it at 4000 ns, not the 1020 it costs here).
  Instance a(0, 1.0 / 64, /*learn=*/true, 0, /*model_mmap=*/false);
  const double cost[] = {0, 1000, 1020};
  const std::vector<int> served = a.Serve(0x4000, kBandLarge, cost, 1000);
  EXPECT_EQ(a.Chosen(0x4000, kBandLarge), -1);  // every match a draw: no rating lead
  // Undecided, the trials alternate: both strategies keep being measured.
  EXPECT_NEAR(served[kIdxBigCache], served[kIdxMmap], 2);
}

TEST(Tournament, OnceWellMeasuredOnlyOneMappedBlockInEightIsFollowed) {
  Instance a(0);
  const uintptr_t site = 0x4100;
  int followed = 0, unfollowed = 0;
  for (int i = 0; i < 64 + 800; ++i) {
    const uint32_t h = a.t.OnAlloc(site, kBandLarge, Strategy::kMmap, 1 << 20, 100, false);
    (h != 0 ? followed : unfollowed) += i >= 64;
    if (h != 0) a.t.OnFree(h, Strategy::kMmap, 1 << 20, 100, 0, false, false);
  }
  EXPECT_EQ(followed, 100);  // every 8th of the 800 after the first 64 samples
  EXPECT_EQ(unfollowed, 700);
  BandView v[kNumBands];
  ASSERT_TRUE(a.t.ViewSite(site, v));
  EXPECT_EQ(v[kBandLarge].totals[kIdxMmap].tries, 864u);  // tries count every allocation
  EXPECT_EQ(v[kBandLarge].samples[kIdxMmap], 164u);       // samples only followed ones
}

// An undecided band's trials alternate between its strategies, so each strategy's
// allocations fall on every other count of the band's. The one in eight followed must be
// of each strategy's own allocations: counted on the band's, one of the two was never
// followed again once well measured, and the band never played another match.
TEST(Tournament, StrategiesTakingTurnsAreEachStillFollowed) {
  Instance a(0);
  const uintptr_t site = 0x4200;
  for (int i = 0; i < 2 * (64 + 800); ++i) {
    const Strategy s = i % 2 ? Strategy::kMmap : Strategy::kBigCache;
    const uint32_t h = a.t.OnAlloc(site, kBandLarge, s, 1 << 20, 100, false);
    if (h != 0) a.t.OnFree(h, s, 1 << 20, 100, 0, false, false);
  }
  BandView v[kNumBands];
  ASSERT_TRUE(a.t.ViewSite(site, v));
  // 64 followed, then every 8th of the 800 after: live samples only (the BigCache
  // frees' modelled samples of direct mapping are not its tries).
  EXPECT_EQ(v[kBandLarge].samples[kIdxBigCache], 164u);
  EXPECT_EQ(v[kBandLarge].samples[kIdxMmap] - v[kBandLarge].totals[kIdxMmap].modelled, 164u);
  EXPECT_GT(v[kBandLarge].matches, 10u);
}

TEST(Tournament, IdleTimeInBigCacheIsChargedToTheSiteThatFreedTheBlock) {
  // BigCache is cheaper in time, but each block waits 0.1 s holding 8 MiB: 0.8 MiB-s,
  // 800 us at the default weight, against mmap's 20 us.
  Instance a(0);
  const uintptr_t site = 0x4200;
  for (int i = 0; i < 400; ++i) {
    const Strategy s = a.Next(site, kBandHuge);
    const uint32_t h = a.t.OnAlloc(site, kBandHuge, s, 8 << 20, s == Strategy::kMmap ? 1e4 : 300, false);
    const bool cached = s == Strategy::kBigCache;
    a.t.OnFree(h, s, 8 << 20, s == Strategy::kMmap ? 1e4 : 100, 0, false, cached);
    if (cached) a.t.OnCacheIdle(h, 8 << 20, 8 << 20, 1e8);
    for (const auto& [key, strategy] : a.events.published_to) a.route[key] = strategy;
    a.events.published_to.clear();
  }
  EXPECT_EQ(a.Chosen(site, kBandHuge), kIdxMmap);
  BandView v[kNumBands];
  ASSERT_TRUE(a.t.ViewSite(site, v));
  const StrategyTotals& bc = v[kBandHuge].totals[kIdxBigCache];
  ASSERT_GT(v[kBandHuge].samples[kIdxBigCache], 0u);
  EXPECT_NEAR(bc.idle_mib_s / v[kBandHuge].samples[kIdxBigCache], 0.8, 1e-3);
  EXPECT_NEAR(static_cast<double>(bc.idle_ns) / v[kBandHuge].samples[kIdxBigCache], 8e5, 10);
}

TEST(Tournament, ShadowModeChargesWhatTheOthersWouldHaveCostAndNeverPublishes) {
  // Shadow mode: the band's default (BigCache) serves; direct mapping is estimated from
  // the OS prices (map 2000 + unmap 2000 + 256 touched pages x (100 unmap + 1000 fault)).
  Instance a(0, 1.0 / 64, /*learn=*/false);
  const uintptr_t site = 0x5000;
  for (int i = 0; i < 200; ++i) {
    const uint32_t h = a.t.OnAlloc(site, kBandLarge, Strategy::kBigCache, 1 << 20, 300, false);
    a.t.OnFree(h, Strategy::kBigCache, 1 << 20, 100, 256, false, false);
  }
  EXPECT_EQ(a.Chosen(site, kBandLarge), kIdxBigCache);  // it knows what it would do...
  EXPECT_TRUE(a.events.published.empty());                // ...and does nothing
  BandView v[kNumBands];
  ASSERT_TRUE(a.t.ViewSite(site, v));
  ASSERT_GT(v[kBandLarge].samples[kIdxMmap], 0u);
  EXPECT_NEAR(v[kBandLarge].mean_cost_ns[kIdxMmap], 2000 + 2000 + 256 * (100 + 1000), 2);
  EXPECT_EQ(v[kBandLarge].totals[kIdxMmap].faults / v[kBandLarge].samples[kIdxMmap], 256u);
  // Modelled samples, not tries: it served nothing.
  EXPECT_EQ(v[kBandLarge].totals[kIdxMmap].tries, 0u);
  EXPECT_EQ(v[kBandLarge].totals[kIdxMmap].modelled, v[kBandLarge].samples[kIdxMmap]);
  EXPECT_EQ(v[kBandLarge].totals[kIdxBigCache].modelled, 0u);
}

// Learn mode's screen of direct mapping (tournament.h). Blocks of 1 MiB whose program
// touches 256 pages (the first one fresh, so the band's touch rate is known): the model
// prices a direct mapping of each at 2000 + 2000 + 256 x (100 + 1000) ns, 285x what
// BigCache costs here, so one match rules it out and it is never mapped live before the
// commitment.
TEST(Tournament, LearnModeNeverTriesLiveADirectMappingTheModelRulesOut) {
  Instance a(0, /*explore_rate=*/0);
  const uintptr_t site = 0x5200;
  std::vector<Strategy> served;
  for (int i = 0; i < 64; ++i) {
    const Strategy s = a.Next(site, kBandLarge);
    served.push_back(s);
    const uint32_t h = a.t.OnAlloc(site, kBandLarge, s, 1 << 20, 500, i == 0);
    a.t.OnFree(h, s, 1 << 20, 500, 256, i == 0, false);
    for (const auto& [key, strategy] : a.events.published_to) a.route[key] = strategy;
    a.events.published_to.clear();
  }
  EXPECT_EQ(std::count(served.begin(), served.end(), Strategy::kMmap), 0);
  EXPECT_EQ(a.Chosen(site, kBandLarge), kIdxBigCache);
  BandView v[kNumBands];
  ASSERT_TRUE(a.t.ViewSite(site, v));
  const StrategyTotals& mmap = v[kBandLarge].totals[kIdxMmap];
  EXPECT_EQ(mmap.tries, 0u);
  EXPECT_EQ(mmap.modelled, 64u);  // one per BigCache sample
  EXPECT_EQ(v[kBandLarge].samples[kIdxMmap], 64u);
  EXPECT_EQ(mmap.faults, 64u * 256);
  EXPECT_EQ(v[kBandLarge].totals[kIdxBigCache].tries, 64u);
  EXPECT_EQ(v[kBandLarge].totals[kIdxBigCache].modelled, 0u);
}

// With no fresh block of the band seen, a reused block's resident pages say nothing of
// what the program touches (earlier owners' pages are resident too): the screen prices
// its direct mapping at none touched, the lower bound, and so cannot rule out a strategy
// that may be far cheaper (here BigCache costs 400 us a block; mapping, 5 us live).
TEST(Tournament, LearnModesScreenTakesTheLowerBoundWhereNoFreshPagesWereSeen) {
  Instance a(0, /*explore_rate=*/0);
  const uintptr_t site = 0x5250;
  const double cost[] = {0, 400000, 5000};
  int mapped = 0;
  for (int i = 0; i < 100; ++i) {
    const Strategy s = a.Next(site, kBandLarge);
    mapped += s == Strategy::kMmap;
    const double ns = cost[static_cast<int>(s) - 1];
    const bool fresh = s == Strategy::kMmap;
    const uint32_t h = a.t.OnAlloc(site, kBandLarge, s, 1 << 20, ns / 2, fresh);
    a.t.OnFree(h, s, 1 << 20, ns / 2, fresh ? 1 : 256, fresh, false);
    for (const auto& [key, strategy] : a.events.published_to) a.route[key] = strategy;
    a.events.published_to.clear();
  }
  EXPECT_GT(mapped, 8);
  EXPECT_EQ(a.Chosen(site, kBandLarge), kIdxMmap);
  BandView v[kNumBands];
  ASSERT_TRUE(a.t.ViewSite(site, v));
  EXPECT_EQ(v[kBandLarge].totals[kIdxMmap].modelled, 8u);
  // The modelled samples were charged no faults; the live ones one each.
  EXPECT_EQ(v[kBandLarge].totals[kIdxMmap].faults, v[kBandLarge].samples[kIdxMmap] - 8);
}

// A band's first BigCache window is misses into a cold cache: fresh mappings that cost
// what the model prices a direct mapping at, so the first match draws. A draw is not the
// model failing to rule direct mapping out: once BigCache's blocks are reused it is far
// ahead, and no live mapping (each a whole block's faults) is tried.
TEST(Tournament, LearnModesScreenWaitsOutADrawWithAColdBigCache) {
  Instance a(0, /*explore_rate=*/0);
  const uintptr_t site = 0x5400;
  // The model's direct mapping of a 1 MiB block with all 256 pages touched: map 2000 +
  // unmap 2000 + 256 pages x 100 of time, 256 faults x 1000. A miss costs the same.
  const double miss_time = 2000 + 2000 + 256 * 100;
  int bigcache = 0;
  std::vector<Strategy> served;
  for (int i = 0; i < 64; ++i) {
    const Strategy s = a.Next(site, kBandLarge);
    served.push_back(s);
    const bool fresh = s == Strategy::kBigCache && bigcache++ < static_cast<int>(kWindow);
    const double ns = fresh ? miss_time : 3000;
    const uint32_t h = a.t.OnAlloc(site, kBandLarge, s, 1 << 20, ns / 2, fresh);
    a.t.OnFree(h, s, 1 << 20, ns / 2, 256, fresh, false);
    for (const auto& [key, strategy] : a.events.published_to) a.route[key] = strategy;
    a.events.published_to.clear();
  }
  BandView v[kNumBands];
  ASSERT_TRUE(a.t.ViewSite(site, v));
  ASSERT_GE(v[kBandLarge].matches, 3u);
  EXPECT_EQ(std::count(served.begin(), served.end(), Strategy::kMmap), 0);
  EXPECT_EQ(v[kBandLarge].totals[kIdxMmap].tries, 0u);
  EXPECT_EQ(a.Chosen(site, kBandLarge), kIdxBigCache);
}

// Where the model flatters direct mapping (it sees no touched pages here, so prices a
// block at 4000 ns; live, each costs 30000 against BigCache's 5000), the model cannot
// rule it out: it goes live, its trials take turns with BigCache's rather than come in a
// run, and what is committed rests on the live samples.
TEST(Tournament, LearnModeChecksLiveWhatTheModelCannotRuleOut) {
  Instance a(0, /*explore_rate=*/0);
  const uintptr_t site = 0x5300;
  const double cost[] = {0, 5000, 30000};
  std::vector<Strategy> served;
  for (int i = 0; i < 200; ++i) {
    const Strategy s = a.Next(site, kBandLarge);
    served.push_back(s);
    const double ns = cost[static_cast<int>(s) - 1];
    const uint32_t h = a.t.OnAlloc(site, kBandLarge, s, 1 << 20, ns / 2, false);
    a.t.OnFree(h, s, 1 << 20, ns / 2, 0, false, false);
    for (const auto& [key, strategy] : a.events.published_to) a.route[key] = strategy;
    a.events.published_to.clear();
  }
  EXPECT_EQ(a.Chosen(site, kBandLarge), kIdxBigCache);
  for (const Recorder::Made& m : a.events.decisions) {
    if (m.kind == DecisionKind::kCommit || m.kind == DecisionKind::kSwitch) {
      EXPECT_NE(m.to, kIdxMmap);  // never chosen on the model's word
    }
  }
  // The first 8 allocations filled BigCache's window (and the model's): no live mapping.
  EXPECT_EQ(std::count(served.begin(), served.begin() + 8, Strategy::kMmap), 0);
  // Then a live window of direct mappings, alternating with BigCache's trials.
  EXPECT_GE(std::count(served.begin(), served.end(), Strategy::kMmap), 8);
  int run = 0, longest = 0;
  for (const Strategy s : served) {
    run = s == Strategy::kMmap ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  EXPECT_LE(longest, 2);
  BandView v[kNumBands];
  ASSERT_TRUE(a.t.ViewSite(site, v));
  EXPECT_GE(v[kBandLarge].totals[kIdxMmap].tries, 8u);
  EXPECT_EQ(v[kBandLarge].totals[kIdxMmap].modelled, 8u);  // the first window's, then none
}

TEST(Tournament, ShadowModePricesAReusedBlocksMappingAtTheBandsFreshTouchRate) {
  // A reused block's resident pages include what earlier owners touched (BigCache can
  // gather it from other sites' pieces): what it would have faulted mapped directly is
  // the band's rate in its fresh blocks, here 1 page of 1 MiB, not its 256 resident ones.
  Instance a(0, 1.0 / 64, /*learn=*/false);
  const uintptr_t site = 0x5100;
  const uint32_t first = a.t.OnAlloc(site, kBandLarge, Strategy::kBigCache, 1 << 20, 300, true);
  a.t.OnFree(first, Strategy::kBigCache, 1 << 20, 100, 1, true, false);
  for (int i = 0; i < 200; ++i) {
    const uint32_t h = a.t.OnAlloc(site, kBandLarge, Strategy::kBigCache, 1 << 20, 300, false);
    a.t.OnFree(h, Strategy::kBigCache, 1 << 20, 100, 256, false, false);
  }
  BandView v[kNumBands];
  ASSERT_TRUE(a.t.ViewSite(site, v));
  ASSERT_GT(v[kBandLarge].samples[kIdxMmap], 10u);  // (once well measured, 1 in 8 followed)
  // One page each.
  EXPECT_EQ(v[kBandLarge].totals[kIdxMmap].faults, v[kBandLarge].samples[kIdxMmap]);
  EXPECT_NEAR(v[kBandLarge].mean_cost_ns[kIdxMmap], 2000 + 2000 + 1 * (100 + 1000), 2);
}

TEST(Tournament, APreemptedMeasurementDoesNotLoseThePoolItsMatches) {
  // The pool costs 40 ns, BigCache 400; one pool allocation in 12 is measured across a
  // 5 ms preemption. Before, one such sample in a window made the pool lose the match.
  Instance a(0);
  const uintptr_t site = 0x4300;
  int pool_allocs = 0;
  for (int i = 0; i < 3000; ++i) {
    const Strategy s = a.Next(site, kBandMiddle);
    double ns = s == Strategy::kPool ? 40 : s == Strategy::kBigCache ? 400 : 3e4;
    if (s == Strategy::kPool && ++pool_allocs % 12 == 0) ns = 5e6;
    const uint32_t h = a.t.OnAlloc(site, kBandMiddle, s, 64 << 10, ns, false);
    if (s != Strategy::kPool) a.t.OnFree(h, s, 64 << 10, 0, 0, false, false);
    for (const auto& [key, strategy] : a.events.published_to) a.route[key] = strategy;
    a.events.published_to.clear();
  }
  EXPECT_EQ(a.Chosen(site, kBandMiddle), kIdxPool);
  EXPECT_GT(a.t.implausible(), 100u);
  // A strategy that always costs milliseconds is measured as it is: nothing is taken for
  // interference (the ratio is to its own mean).
  Instance b(0);
  for (int i = 0; i < 200; ++i) {
    const uint32_t h = b.t.OnAlloc(0x4400, kBandHuge, Strategy::kMmap, 64 << 20, 5e6, false);
    b.t.OnFree(h, Strategy::kMmap, 64 << 20, 5e6, 0, false, false);
  }
  EXPECT_EQ(b.t.implausible(), 0u);
  BandView v[kNumBands];
  ASSERT_TRUE(b.t.ViewSite(0x4400, v));
  EXPECT_NEAR(v[kBandHuge].mean_cost_ns[kIdxMmap], 1e7, 1);
}

TEST(Tournament, AResizeIsChargedToItsBlockNotCountedAsASample) {
  Instance a(0);
  const uint32_t h = a.t.OnAlloc(0x4500, kBandLarge, Strategy::kMmap, 1 << 20, 1000, true);
  ASSERT_NE(h, 0u);
  a.t.OnResize(h, Strategy::kMmap, 5000);  // mremap'd in place
  a.t.OnFree(h, Strategy::kMmap, 3 << 20, 2000, 10, true, false);
  BandView v[kNumBands];
  ASSERT_TRUE(a.t.ViewSite(0x4500, v));
  const StrategyTotals& t = v[kBandLarge].totals[kIdxMmap];
  EXPECT_EQ(v[kBandLarge].samples[kIdxMmap], 1u);     // one block, one sample
  EXPECT_EQ(t.time_ns, 1000u + 5000u + 2000u);         // its allocation, resize and free
  EXPECT_EQ(t.faults, 10u);                            // a fresh block's touched pages
  EXPECT_EQ(t.fault_ns, 10u * 1000u);                  // at the fault price
  EXPECT_EQ(t.sample_bytes, 3u << 20);                 // the size it was freed at
}

TEST(Tournament, BlocksInHugePageMappingsPayTheHugePagePricePerPage) {
  // With a huge-page price (HAKMEM_HUGE_PAGES), a fresh block of kHugeBlockBytes and up
  // pays it per touched page, in learn and in shadow mode; smaller blocks, and every block
  // without one, pay the 4 KiB fault price.
  for (const bool learn : {true, false}) {
    for (const double huge : {0.0, 40.0}) {
      Instance a(0, 1.0 / 64, learn, huge);
      const Strategy real = learn ? Strategy::kMmap : Strategy::kBigCache;
      for (const size_t bytes : {kHugeBlockBytes - 4096, kHugeBlockBytes}) {
        const uintptr_t site = 0x4600 + bytes;
        const uint32_t h = a.t.OnAlloc(site, kBandLarge, real, bytes, 1000, learn);
        ASSERT_NE(h, 0u);
        a.t.OnFree(h, real, bytes, 2000, 10, learn, false);
        BandView v[kNumBands];
        ASSERT_TRUE(a.t.ViewSite(site, v));
        const double price = huge > 0 && bytes >= kHugeBlockBytes ? huge : 1000;
        const StrategyTotals& t = v[kBandLarge].totals[kIdxMmap];  // real or estimated
        EXPECT_EQ(t.faults, 10u) << learn << " " << bytes;
        EXPECT_NEAR(static_cast<double>(t.fault_ns), 10 * price, 1) << learn << " " << bytes;
      }
    }
  }
}

TEST(Tournament, ManyThreadsAndSitesAtOnce) {
  Instance a(0);
  // Odd sites: BigCache costs 5 us and a direct mapping 5 ms; even sites the reverse.
  auto serve = [&a](int s, Strategy st) {
    const uintptr_t site = 0x10000 + 0x100 * s;
    const double ns = (st == Strategy::kMmap) == (s % 2 == 1) ? 5e6 : 5e3;
    const uint32_t h = a.t.OnAlloc(site, kBandLarge, st, 1 << 20, ns / 2, false);
    a.t.OnFree(h, st, 1 << 20, ns / 2, 0, false, false);
  };
  // Trials follow the tournament's own publications (a shared map would need a lock:
  // each thread reads the band's decision from the tournament instead).
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&a, &serve, t] {
      for (int s = 0; s < 50; ++s) {
        for (int i = 0; i < 100 + t; ++i) {
          BandView v[kNumBands];
          const bool known = a.t.ViewSite(0x10000 + 0x100 * s, v);
          serve(s, known && v[kBandLarge].chosen >= 0
                       ? static_cast<Strategy>(v[kBandLarge].chosen + 1)
                       : (i % 2 ? Strategy::kMmap : Strategy::kBigCache));
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  // A thread preempted while it holds a band's try-lock holds back that band's matches
  // (the others skip, never wait) until it runs again: four threads on two cores can see
  // a site's first match come only with its last few allocations. The learning goes on
  // with the next ones, so each site gets up to 50 more windows, from one thread, to
  // commit; a band the threads left corrupt or stuck still fails here.
  for (int s = 0; s < 50; ++s) {
    const uintptr_t site = 0x10000 + 0x100 * s;
    for (int i = 0; i < 50 * 2 * static_cast<int>(kWindow) && a.Chosen(site, kBandLarge) < 0; ++i) {
      serve(s, i % 2 ? Strategy::kMmap : Strategy::kBigCache);
    }
    EXPECT_EQ(a.Chosen(site, kBandLarge), (s % 2) ? kIdxBigCache : kIdxMmap) << s;
  }
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

// What the preloaded learner's events do from many allocating threads at once: counted,
// and each match record written whole before it is handed back.
class SharedRecorder final : public TournamentEvents {
 public:
  void Publish(uintptr_t, int band, Strategy s) override {
    if (!Eligible(s, band)) bad.fetch_add(1);
    publishes.fetch_add(1);
  }
  void Decision(uintptr_t, int band, DecisionKind kind, int, int to, uint64_t) override {
    if (kind != DecisionKind::kTrialsBegin && !Eligible(static_cast<Strategy>(to + 1), band)) {
      bad.fetch_add(1);
    }
    std::lock_guard<std::mutex> l(mu);
    ++decisions[static_cast<int>(kind)];
  }
  MatchRecord* BeginMatch(uint64_t* index) override {
    *index = next.fetch_add(1);
    return &records[*index % kRecords];
  }
  void EndMatch(MatchRecord* r, uint64_t index) override {
    if (r->chosen >= 0 && !Eligible(static_cast<Strategy>(r->chosen + 1), r->band)) {
      bad.fetch_add(1);
    }
    r->seq.store(index + 1, std::memory_order_release);
    matches.fetch_add(1);
  }
  uint64_t NowNs() override { return 0; }

  static constexpr int kRecords = 1 << 16;  // more than the test plays: no slot is shared
  std::atomic<uint64_t> next{0}, matches{0}, publishes{0}, bad{0};
  std::mutex mu;
  uint64_t decisions[5] = {};
  MatchRecord records[kRecords] = {};
};

// The preloaded learner's use: allocating threads report allocations, frees, resizes and
// idle time of shared and private sites in every band while another thread reads the
// table (the telemetry writer's ForEachSite, the prices' medians). Run under
// --config=tsan, this is the tournament's race detector; everywhere, its counts must add up.
TEST(Tournament, ManyThreadsFeedAndReadOneInstance) {
  auto memory = std::make_unique<char[]>(Tournament::MemoryBytes());
  memset(memory.get(), 0, Tournament::MemoryBytes());
  auto events = std::make_unique<SharedRecorder>();
  Tournament t;
  TournamentConfig c;
  c.params = DefaultParams();
  c.params.fault_ns = 1000;
  c.params.explore_rate = 1.0 / 8;
  c.schedule_trials = true;
  c.counterfactuals = true;  // shadow mode's path too: charges every band's others
  t.Start(memory.get(), c, events.get());

  constexpr int kThreads = 8, kRounds = 3000;
  constexpr uintptr_t kShared[] = {0x5000, 0x5001, 0x5002};
  const size_t kSize[kNumBands] = {96 << 10, 1 << 20, 8 << 20};
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> views{0};
  std::thread reader([&] {
    do {  // at least one pass, however late this thread starts
      t.ForEachSite(
          [](uintptr_t, const BandView* bands, void* arg) {
            for (int b = 0; b < kNumBands; ++b) {
              const BandView& v = bands[b];
              // A chosen strategy is eligible, and ratings are finite numbers.
              if (v.chosen >= 0) {
                EXPECT_TRUE(v.eligible[v.chosen]);
              }
              for (int i = 0; i < kNumLearnedStrategies; ++i) {
                EXPECT_TRUE(std::isfinite(v.rating[i]));
              }
            }
            static_cast<std::atomic<uint64_t>*>(arg)->fetch_add(1);
          },
          &views);
      EXPECT_GE(t.median_hit_ns(), 0);
      EXPECT_GE(t.median_pool_ns(), 0);
      std::this_thread::yield();
      // Until the feeders are done, and at least one pass saw a site: a reader scheduled
      // only before the first OnAlloc (seen in CI on 2 cores) would otherwise view nothing.
    } while (!stop.load() || views.load() == 0);
  });
  std::vector<std::thread> feeders;
  for (int th = 0; th < kThreads; ++th) {
    feeders.emplace_back([&, th] {
      for (int r = 0; r < kRounds; ++r) {
        const uintptr_t site = r % 2 == 0 ? kShared[r % 3] : 0x9000 + th;
        const int band = (r / 2) % kNumBands;
        // Each strategy in turn, whatever was published: the route may serve a request
        // by another strategy than decided (fallbacks).
        const Strategy s = static_cast<Strategy>(band == kBandMiddle ? 1 + r % 3 : 2 + r % 2);
        const double ns = 100.0 * (1 + static_cast<int>(s)) + th;
        const uint32_t h = t.OnAlloc(site, band, s, kSize[band], ns, r % 5 != 0);
        if (s == Strategy::kPool) continue;  // pool frees are not followed
        if (r % 7 == 0) t.OnResize(h, s, 50);
        const bool cached = s == Strategy::kBigCache && r % 3 != 0;
        t.OnFree(h, s, kSize[band], 80, kSize[band] / 4096, r % 5 != 0, cached);
        if (cached) t.OnCacheIdle(h, kSize[band], kSize[band], 1e6);
      }
    });
  }
  for (std::thread& f : feeders) f.join();
  stop.store(true);
  reader.join();

  EXPECT_EQ(events->bad.load(), 0u);
  EXPECT_GT(events->matches.load(), 0u);
  EXPECT_GT(views.load(), 0u);
  uint64_t allocations = 0;
  int sites = 0;
  t.ForEachSite(
      [](uintptr_t, const BandView* bands, void* arg) {
        for (int b = 0; b < kNumBands; ++b) {
          *static_cast<uint64_t*>(arg) += bands[b].allocations;
        }
      },
      &allocations);
  t.ForEachSite([](uintptr_t, const BandView*, void* arg) { ++*static_cast<int*>(arg); },
                &sites);
  EXPECT_EQ(allocations, uint64_t{kThreads} * kRounds);  // every report counted once
  EXPECT_EQ(sites, 3 + kThreads);
  EXPECT_EQ(t.unfollowed(), 0u);
  // Every record handed out was finished.
  ASSERT_LT(events->next.load(), uint64_t{SharedRecorder::kRecords});
  for (uint64_t i = 0; i < events->next.load(); ++i) {
    EXPECT_EQ(events->records[i].seq.load(), i + 1);
  }
}

}  // namespace
}  // namespace learner
}  // namespace hakmem
